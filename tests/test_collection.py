"""Unattended collection: windows from the ledger, retries of failed days, backfill, reparse,
the write lock, and a process killed in the middle of a run."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from filelock import FileLock

from envwatch.cli import main
from envwatch.config import load_config
from envwatch.pipeline import backfill, ingest, reparse

from conftest import AIR_DAY1, SLIM_DAY1, write_config
from faultserver import FaultServer, Reply

BASE = SLIM_DAY1.read_text()


def day_file(day: date) -> bytes:
    """The real sample day relabelled as `day` (the registry's stations, all 24 hours)."""
    return BASE.replace("20190101,", f"{day:%Y%m%d},").encode()


def _fast(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace(
        "lookback: 2d ",
        "lookback: 2d\n    http: {retries: 0, backoff_base: 0.01}\n    # ",
    )
    config.write_text(text, encoding="utf-8")


def _serve(server: FaultServer, days: list[date], failing: dict[date, Reply] | None = None) -> None:
    for d in days:
        reply = (failing or {}).get(d, Reply(200, body=day_file(d)))
        server.script(f"/air/china_sites_{d:%Y%m%d}.csv", reply, then=Reply(200, body=day_file(d)))


def _fetched(server: FaultServer, since: int = 0) -> list[str]:
    """The days requested, from the `since`-th request on."""
    return [r.path.rsplit("_", 1)[1][:8] for r in server.requests[since:]]


def test_window_from_the_ledger_fills_a_gap_after_downtime(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path)
    _fast(cfg_path)
    cfg = load_config(cfg_path)
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(15)]
    with FaultServer() as server:
        _serve(server, days)
        url = server.url("/air/china_sites_{date:%Y%m%d}.csv")
        first = ingest(cfg, "cnemc-air-archive", url=url, today=date(2026, 11, 10))
        assert first.status == "ok" and _fetched(server) == ["20261108", "20261109", "20261110"]
        mark = len(server.requests)
        # two days down, then the daily run: it goes back to the newest data minus the lookback
        later = ingest(cfg, "cnemc-air-archive", url=url, today=date(2026, 11, 13))
        assert later.status == "ok"
        assert _fetched(server, mark) == [f"202611{d:02d}" for d in range(8, 14)]
    per_day = first.new // 3
    assert later.new == 3 * per_day and later.unchanged == 3 * per_day


def test_a_failed_day_makes_the_run_partial_and_is_fetched_next_run(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path)
    _fast(cfg_path)
    cfg = load_config(cfg_path)
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(20)]
    with FaultServer() as server:
        _serve(server, days)
        bad = date(2026, 11, 9)
        server.script(
            f"/air/china_sites_{bad:%Y%m%d}.csv",
            Reply(503, body=b"down"),
            Reply(503, body=b"down"),
            then=Reply(200, body=day_file(bad)),
        )
        url = server.url("/air/china_sites_{date:%Y%m%d}.csv")
        first = ingest(cfg, "cnemc-air-archive", url=url, today=date(2026, 11, 10))
        assert first.status == "partial" and first.exit_code == 1
        assert any("503" in p for p in first.problems)
        second = ingest(cfg, "cnemc-air-archive", url=url, today=date(2026, 11, 13))
        assert second.status == "partial"  # 11-09 still down; the rest stored
        mark = len(server.requests)
        # later: the failed day is now older than the lookback, and is still fetched first
        third = ingest(cfg, "cnemc-air-archive", url=url, today=date(2026, 11, 16))
        assert third.status == "ok"
        assert _fetched(server, mark) == [f"202611{d:02d}" for d in range(9, 17)]
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        days_stored = c.execute(
            "select count(distinct date) from air_daily where valid = 1 and site_id = '1236A'"
        ).fetchone()[0]
        faults = c.execute("select faults from runs order by id limit 1").fetchone()[0]
    assert days_stored == 9  # 11-08 … 11-16 (11-07's natural day lacks its hours 01-23)
    assert '"http_503": 1' in faults  # the fault is in the ledger


def test_connection_refused_fails_with_a_clear_message(tmp_path: Path) -> None:
    from faultserver import refused_url

    cfg_path = write_config(tmp_path)
    _fast(cfg_path)
    refused, sock = refused_url()
    result = CliRunner().invoke(
        main,
        [
            "--config", str(cfg_path), "ingest", "cnemc-air-archive", "--url",
            refused.rstrip("/") + "/china_sites_{date:%Y%m%d}.csv", "--since", "2026-11-01", "--until", "2026-11-01",
        ],
    )  # fmt: skip
    sock.close()
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "20261101" in result.output


def test_backfill_resumes_with_the_days_still_missing(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path)
    _fast(cfg_path)
    cfg = load_config(cfg_path)
    days = [date(2026, 10, 1) + timedelta(days=i) for i in range(6)]
    seen: list[str] = []
    with FaultServer() as server:
        _serve(server, days, failing={date(2026, 10, 4): Reply(500, body=b"oops")})
        cfg_url = cfg_path.read_text(encoding="utf-8").replace(
            "https://quotsoft.net/air/data/china_sites_{date:%Y%m%d}.csv",
            server.url("/air/china_sites_{date:%Y%m%d}.csv"),
        )
        cfg_path.write_text(cfg_url, encoding="utf-8")
        cfg = load_config(cfg_path)
        first = backfill(
            cfg, "cnemc-air-archive", days[0], days[-1], chunk_days=4, progress=seen.append
        )
        assert [r.status for r in first] == ["partial", "ok"]
        assert len(seen) == 6
        mark = len(server.requests)
        second = backfill(cfg, "cnemc-air-archive", days[0], days[-1], chunk_days=4)
        assert [r.status for r in second] == ["ok"]
        assert _fetched(server, mark) == ["20261004"]
        mark = len(server.requests)
        assert backfill(cfg, "cnemc-air-archive", days[0], days[-1]) == []
        assert len(server.requests) == mark


def test_backfill_command_shows_progress_and_refuses_other_kinds(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path)
    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(cfg_path),
            "backfill",
            "cnemc-water",
            "--since",
            "2026-01-01",
            "--until",
            "2026-01-02",
        ],
    )
    assert result.exit_code == 2 and "use `envwatch ingest`" in result.output


def test_reparse_rereads_the_archive_idempotently(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path))
    ingest(cfg, "cnemc-air-archive", files=[SLIM_DAY1])
    db = tmp_path / "envwatch.db"
    with sqlite3.connect(db) as c:
        total = c.execute("select count(*) from observations").fetchone()[0]
        # values lost from the store (say, a bad manual delete) come back from the raw archive
        c.execute("delete from observations where site_id = '1236A'")
        lost = total - c.execute("select count(*) from observations").fetchone()[0]
    [again] = reparse(cfg, "cnemc-air-archive")
    assert (again.new, again.revised, again.status) == (lost, 0, "ok")
    [third] = reparse(cfg)
    assert (third.new, third.revised, third.unchanged) == (0, 0, total)


def test_an_overlapping_run_waits_or_says_why_it_cannot(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path)
    lock = FileLock(str(tmp_path / "envwatch.db") + ".lock")
    with lock:
        result = CliRunner().invoke(
            main,
            [
                "--config",
                str(cfg_path),
                "ingest",
                "cnemc-air-archive",
                "--file",
                str(SLIM_DAY1),
                "--wait",
                "0.5",
            ],
        )
    assert result.exit_code == 2
    assert "another envwatch run has held the store's write lock" in result.output
    ok = CliRunner().invoke(
        main, ["--config", str(cfg_path), "ingest", "cnemc-air-archive", "--file", str(SLIM_DAY1)]
    )
    assert ok.exit_code == 0


def _envwatch(cfg: Path, *args: str) -> subprocess.Popen[str]:
    exe = Path(sys.executable).parent / "envwatch"
    return subprocess.Popen(
        [str(exe), "--config", str(cfg), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow  # two envwatch processes: about 2-3 s
def test_two_ingests_at_once_store_everything_once(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    a = _envwatch(cfg, "ingest", "cnemc-air-archive", "--file", str(SLIM_DAY1))
    b = _envwatch(cfg, "ingest", "cnemc-air-archive", "--file", str(SLIM_DAY1))
    codes = (a.wait(120), b.wait(120))
    assert codes == (0, 0), (codes, a.stderr and a.stderr.read(), b.stderr and b.stderr.read())
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        runs = sorted(c.execute("select new, unchanged from runs").fetchall())
    # one run stored the day, the other found it all there
    assert runs[0][0] == 0 and runs[1][1] == 0 and runs[0][1] == runs[1][0] > 0


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 is POSIX")
def test_killed_mid_run_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    # the whole nation, so that the run is still busy with the second day when it is killed
    full = AIR_DAY1.read_text()
    folder = tmp_path / "days"
    folder.mkdir()
    for i in range(2):
        d = date(2026, 9, 1) + timedelta(days=i)
        (folder / f"china_sites_{d:%Y%m%d}.csv").write_bytes(
            (full.replace("20190101,", f"{d:%Y%m%d},")).encode()
        )
    crash_dir = tmp_path / "crash"
    crash_dir.mkdir()
    cfg = write_config(crash_dir)
    db = crash_dir / "envwatch.db"
    proc = _envwatch(cfg, "ingest", "cnemc-air-archive", "--file", str(folder), "--all-sites")
    # the clean run to compare with, in its own store, at the same time (the machine's 2nd core)
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean_cfg = write_config(clean_dir)
    clean = _envwatch(
        clean_cfg, "ingest", "cnemc-air-archive", "--file", str(folder), "--all-sites"
    )
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as c:
                    done = c.execute(
                        "select count(*) from run_payloads where status = 'ok'"
                    ).fetchone()[0]
            except sqlite3.OperationalError:
                done = 0
        if done >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    rerun = _envwatch(cfg, "ingest", "cnemc-air-archive", "--file", str(folder), "--all-sites")
    assert rerun.wait(300) == 0, rerun.stderr.read() if rerun.stderr else ""
    assert clean.wait(300) == 0, clean.stderr.read() if clean.stderr else ""

    def picture(path: Path) -> tuple[object, ...]:
        with sqlite3.connect(path) as c:
            return (
                c.execute("select count(*), sum(value) from observations").fetchone(),
                c.execute("select count(*), sum(aqi) from air_hour").fetchone(),
                c.execute("select count(*), sum(coalesce(aqi, 0)) from air_day").fetchone(),
                c.execute("select count(*) from revisions").fetchone(),
            )

    assert picture(db) == picture(clean_dir / "envwatch.db")
    with sqlite3.connect(db) as c:
        statuses = [r[0] for r in c.execute("select status from runs order by id")]
        error = c.execute("select error from runs order by id limit 1").fetchone()[0]
    assert statuses == ["failed", "ok"] and "interrupted" in error


LIVE = Path(__file__).resolve().parent / "data" / "cnemc_air_live_sample.json"


def test_live_feed_ingest_counts_published_vs_computed_aqi(tmp_path: Path) -> None:
    import json

    cfg_path = write_config(tmp_path)
    cfg = load_config(cfg_path)
    good = ingest(cfg, "cnemc-air-live", files=[LIVE], all_sites=True)
    assert good.status == "ok" and good.mismatches == 0 and good.new > 0
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        rows = c.execute(
            "select count(*), sum(aqi = cast(aqi_published as integer)) from air_hourly "
            "where aqi_published is not null"
        ).fetchone()
        assert rows[0] == len(json.loads(LIVE.read_text())) and rows[1] == rows[0]
        assert c.execute("select mismatches from runs").fetchone() == (0,)
    # valid JSON with a garbage value and a wrong published AQI, served over HTTP
    records = json.loads(LIVE.read_text())
    records[0]["PM10"] = "12#"
    records[1]["AQI"] = str(int(records[1]["AQI"]) + 40)
    records[1]["PM2_5"] = str(int(records[1]["PM2_5"]) + 1)  # so the record is revised
    with FaultServer() as server:
        server.script(
            "/live", then=Reply(200, body=json.dumps(records, ensure_ascii=False).encode())
        )
        second = ingest(cfg, "cnemc-air-live", url=server.url("/live"), all_sites=True)
    assert second.status == "partial" and second.rejected == 1
    assert any("12#" in p or "PM10" in p for p in second.problems)
    assert second.mismatches == 1
    assert second.revised >= 2  # the published AQI and the PM2.5 value
