"""Hostile and careless input on the ingest path (issue 15): links and FIFOs, files that crash a
reader, a full or read-only store, future dates, implausible values, the lock wait, withdraw."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import Result
from filelock import FileLock

from envwatch.config import load_config
from envwatch.ingest import window
from envwatch.pipeline import ingest, open_store
from envwatch.sources import registry

from conftest import ROOT

TZ = ZoneInfo("Asia/Shanghai")


def archive_day(day: date, pm25: float = 35, hours: range = range(1, 4)) -> str:
    """A tiny CNEMC archive file: two registry stations, PM2.5 and PM10 for a few hours."""
    lines = ["date,hour,type,1234A,1236A"]
    for h in hours:
        lines.append(f"{day:%Y%m%d},{h},PM2.5,{pm25:g},30")
        lines.append(f"{day:%Y%m%d},{h},PM10,60,50")
    return "\n".join(lines) + "\n"


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute(sql).fetchone()[0])


# -- hostile files (issue 15 item 1) ------------------------------------------------------------


def test_links_fifos_and_dangling_links_are_skipped_never_read(
    tmp_path: Path, envwatch: Callable[..., Result], db_path: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "china_sites_20190101.csv").write_text(archive_day(date(2019, 1, 1)))
    secret = tmp_path / "secret.csv"
    secret.write_text("date,hour,type,1234A\n20190102,1,PM2.5,1\n")
    os.symlink(secret, folder / "china_sites_20190102.csv")  # a link to a file outside
    os.symlink(tmp_path, folder / "china_sites_20190103.csv")  # a link to a folder
    os.mkfifo(folder / "china_sites_20190104.csv")  # would block a reader forever
    os.symlink(tmp_path / "gone", folder / "china_sites_20190105.csv")  # dangling
    os.link(secret, folder / "china_sites_20190106.csv")  # a second name for an outside file
    started = time.monotonic()
    r = envwatch("ingest", "cnemc-air-archive", "--file", str(folder))
    assert time.monotonic() - started < 30  # the FIFO did not hang the run
    assert r.exit_code == 1, r.output  # partial: the good file landed
    for day in (2, 3, 4, 5, 6):
        assert f"china_sites_2019010{day}.csv: skipped" in r.output
    assert "a symbolic link" in r.output and "a FIFO" in r.output and "hard link" in r.output
    assert _count(db_path, "select count(*) from observations") == 12
    assert _count(db_path, "select count(*) from raw_payloads") == 1  # the outside file: never
    status = _count(db_path, "select count(*) from run_payloads where status = 'failed'")
    assert status == 5


def test_a_link_named_directly_is_refused(
    tmp_path: Path, envwatch: Callable[..., Result], db_path: Path
) -> None:
    real = tmp_path / "real.csv"
    real.write_text(archive_day(date(2019, 1, 1)))
    link = tmp_path / "china_sites_20190101.csv"
    os.symlink(real, link)
    r = envwatch("ingest", "cnemc-air-archive", "--file", str(link))
    assert r.exit_code == 2 and "skipped, a symbolic link" in r.output
    assert _count(db_path, "select count(*) from raw_payloads") == 0


def test_a_file_swapped_for_a_link_after_listing_is_refused(tmp_path: Path) -> None:
    from envwatch.ingest import files

    target = tmp_path / "a.csv"
    target.write_text("x")
    link = tmp_path / "b.csv"
    os.symlink(target, link)
    real_lstat = os.lstat
    # lstat says "regular" (the race), the open must still refuse the link
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(files.os, "lstat", lambda p: real_lstat(target))
        with pytest.raises(files.NotRegularFile, match="symbolic link"):
            files.read_regular(link)


# -- one file fails alone (issue 15 item 5) ----------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [MemoryError(), RecursionError("maximum recursion depth exceeded"), OSError(30, "Read-only")],
)
def test_any_reader_crash_fails_that_file_alone(
    tmp_path: Path,
    envwatch: Callable[..., Result],
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "china_sites_20190101.csv").write_text(archive_day(date(2019, 1, 1)))
    (folder / "china_sites_20190102.csv").write_text(archive_day(date(2019, 1, 2)))
    from envwatch.sources import cnemc_air_archive

    real = cnemc_air_archive.read

    def crash_on_first(data: bytes, **kw: object) -> object:
        if kw["name"] == "china_sites_20190101.csv":
            raise error
        return real(data, name=str(kw["name"]), tz=str(kw["tz"]))

    monkeypatch.setattr(cnemc_air_archive, "read", crash_on_first)
    r = envwatch("ingest", "cnemc-air-archive", "--file", str(folder))
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    assert "china_sites_20190101.csv: skipped" in r.output
    assert "run again" in r.output
    assert _count(db_path, "select count(*) from observations") == 12  # the second day


def test_a_damaged_xlsx_sorting_first_does_not_stop_the_good_sheets(
    tmp_path: Path, envwatch: Callable[..., Result], db_path: Path
) -> None:
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "0-damaged.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "1-folder.xlsx").mkdir()
    example = ROOT / "data" / "examples" / "lab-sheet-example.csv"
    (folder / "2-good.csv").write_bytes(example.read_bytes())
    r = envwatch("ingest", "lab-sheet", "--file", str(folder), "--add-sites")
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    assert "0-damaged.xlsx" in r.output and "1-folder.xlsx: skipped, a folder" in r.output
    assert _count(db_path, "select count(*) from water_samples") > 0


def test_sites_added_for_a_payload_that_fails_are_rolled_back(
    tmp_path: Path,
    envwatch: Callable[..., Result],
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from envwatch import air

    def broken(*args: object, **kw: object) -> object:
        raise ValueError("boom")

    monkeypatch.setattr(air, "derive", broken)
    f = tmp_path / "china_sites_20190101.csv"
    f.write_text(archive_day(date(2019, 1, 1)).replace("1236A", "9999A"))
    r = envwatch("ingest", "cnemc-air-archive", "--file", str(f), "--all-sites")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert _count(db_path, "select count(*) from sites where site_id = '9999A'") == 0
    assert _count(db_path, "select count(*) from observations") == 0


@pytest.mark.parametrize(
    ("message", "advice"),
    [
        ("database or disk is full", "free disk space"),
        ("attempt to write a readonly database", "read-only"),
        ("disk I/O error", "check it"),
    ],
)
def test_a_store_that_cannot_be_written_is_exit_2_with_what_to_do(
    tmp_path: Path,
    envwatch: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    message: str,
    advice: str,
) -> None:
    from envwatch.store import Store

    def full(self: Store, obs: object, run_id: int) -> object:
        raise sqlite3.OperationalError(message)

    monkeypatch.setattr(Store, "upsert_observations", full)
    f = tmp_path / "china_sites_20190101.csv"
    f.write_text(archive_day(date(2019, 1, 1)))
    r = envwatch("ingest", "cnemc-air-archive", "--file", str(f))
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    assert "cannot write the store" in r.output and advice in r.output


# -- time is checked (issue 15 item 2) ---------------------------------------------------------


def test_values_dated_after_now_are_rejected_row_by_row(
    tmp_path: Path, envwatch: Callable[..., Result], db_path: Path
) -> None:
    today = datetime.now(TZ).date()
    f = tmp_path / "mixed.csv"
    ahead = today + timedelta(days=4)
    f.write_text(
        archive_day(date(2019, 1, 1))
        + archive_day(ahead).split("\n", 1)[1]  # the same file, rows dated 4 days ahead
    )
    r = envwatch("ingest", "cnemc-air-archive", "--file", str(f))
    assert r.exit_code == 1, r.output
    assert "after now + 1 h" in r.output
    assert _count(db_path, "select count(*) from observations") == 12
    assert _count(db_path, "select count(*) from rejects where reason like '%after now%'") == 12
    assert _count(db_path, "select max(data_to) from run_ledger") < time.time() + 3600


def test_a_future_data_to_in_the_ledger_does_not_wedge_the_daily_run(tmp_path: Path) -> None:
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    drop = tmp_path / "drop"
    drop.mkdir()
    text = text.replace(
        "    url: https://quotsoft.net/air/data/china_sites_{date:%Y%m%d}.csv\n",
        f"    folder: {drop}\n",
    )
    from conftest import write_config

    loaded = load_config(write_config(tmp_path, text))
    today = datetime.now(TZ).date()
    yesterday = today - timedelta(days=1)
    (drop / f"china_sites_{yesterday:%Y%m%d}.csv").write_text(archive_day(yesterday))
    store = open_store(loaded)
    try:
        # a store from before the check: a run that stored data dated four days ahead
        ahead = int((datetime.now(TZ) + timedelta(days=4)).timestamp())
        store.conn.execute(
            "INSERT INTO run_ledger (source, kind, started_at, status, data_to) "
            "VALUES ('cnemc-air-archive', 'cnemc-air-archive', '2026-01-01T00:00:00Z', 'ok', ?)",
            (ahead,),
        )
        span = window.window(loaded, store, loaded.source("cnemc-air-archive"), None, None, None)
    finally:
        store.close()
    assert span[1] == today and span[0] <= yesterday  # the lookback still reaches back
    result = ingest(loaded, "cnemc-air-archive")
    assert "is after" not in " ".join(result.problems)
    assert result.new == 12  # yesterday's file; today's is not there yet (a retryable failure)
    assert result.exit_code == 1


def test_a_clock_that_went_back_still_gives_a_window(tmp_path: Path) -> None:
    from conftest import write_config

    loaded = load_config(write_config(tmp_path))
    store = open_store(loaded)
    try:
        store.conn.execute(
            "INSERT INTO run_ledger (source, kind, started_at, status, data_to) "
            "VALUES ('cnemc-air-archive', 'cnemc-air-archive', '2026-01-01T00:00:00Z', 'ok', ?)",
            (int(datetime(2030, 1, 1, tzinfo=TZ).timestamp()),),
        )
        source = loaded.source("cnemc-air-archive")
        assert window.window(loaded, store, source, None, None, date(2026, 11, 22)) == (
            date(2026, 11, 21),  # as if the newest data were today's: the 2-day lookback
            date(2026, 11, 22),
        )
        # only --until given, before the computed start: the window ends there
        assert window.window(loaded, store, source, None, date(2026, 11, 1), date(2026, 11, 22))[
            1
        ] == date(2026, 11, 1)
    finally:
        store.close()


# -- plausible ranges (issue 15 item 6) --------------------------------------------------------


@pytest.mark.parametrize("bad", ["99999", "1e308"])
def test_implausible_pm25_is_rejected_with_its_raw_value_and_the_rest_lands(
    tmp_path: Path, envwatch: Callable[..., Result], db_path: Path, bad: str
) -> None:
    f = tmp_path / "china_sites_20190101.csv"
    f.write_text(archive_day(date(2019, 1, 1)).replace(",35,30", f",{bad},30", 1))
    r = envwatch("ingest", "cnemc-air-archive", "--file", str(f))
    assert r.exit_code == 1, r.output
    with sqlite3.connect(db_path) as c:
        raw, reason = c.execute("select raw, reason from rejects").fetchone()
        aqi = c.execute("select max(aqi) from air_hourly").fetchone()[0]
    assert float(raw) == float(bad)
    assert "outside the plausible range 0-3000 µg/m³" in reason
    assert aqi < 500  # no AQI 500 from an error code
    assert _count(db_path, "select count(*) from observations") == 11


def test_ph_20_is_outside_the_plausible_range_not_a_number() -> None:
    import pandas as pd

    from envwatch.pipeline import normalise
    from envwatch.sources.base import Reading

    obs = pd.DataFrame(
        {
            "site_id": ["S1", "S1"],
            "parameter": ["ph", "nh3n"],
            "averaging": ["lab", "lab"],
            "period_end": pd.to_datetime(["2026-11-01 02:00", "2026-11-01 02:00"], utc=True),
            "value": [20.0, 99999.0],
            "unit": ["1", "mg/L"],
            "flag": ["", ""],
        }
    )
    out, rejects = normalise(Reading(obs))
    assert out.empty
    assert "pH 20 is outside the plausible range 0-14 (the pH scale" in rejects[0].reason
    assert "outside the plausible range 0-10000 mg/L" in rejects[1].reason
    assert rejects[1].raw == "99999.0" and rejects[1].site_id == "S1"
    assert rejects[0].location == "site S1 at 2026-11-01 02:00 UTC"


# -- zone sheets (issue 15 item 7) -------------------------------------------------------------


def test_a_zone_status_sheet_after_the_outlines_keeps_them(
    envwatch: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    examples = ROOT / "data" / "examples"
    assert (
        envwatch(
            "ingest", "zone-sheet", "--file", str(examples / "zone-sheet-example.geojson")
        ).exit_code
        == 0
    )
    outlines = _count(db_path, "select count(*) from zones where geometry is not null")
    assert outlines > 0
    r = envwatch("ingest", "zone-sheet", "--file", str(examples / "zone-sheet-example.csv"))
    assert r.exit_code == 0, r.output
    assert _count(db_path, "select count(*) from zones where geometry is not null") == outlines
    r = envwatch("ingest", "zone-sheet", "--file", str(examples / "zone-sheet-example.csv"))
    assert "0 new, 0 revised, 7 unchanged" in r.output  # the counts say what changed
    changed = (examples / "zone-sheet-example.csv").read_text(encoding="utf-8")
    changed = changed.replace(",澥浦镇,", ",澥浦街道,", 1)
    f = tmp_path / "zones.csv"
    f.write_text(changed, encoding="utf-8")
    r = envwatch("ingest", "zone-sheet", "--file", str(f))
    assert "1 revised" in r.output, r.output
    assert _count(db_path, "select count(*) from zones where geometry is not null") == outlines


# -- the lock wait (issue 15 item 10) -----------------------------------------------------------


@pytest.mark.slow  # an envwatch process waiting for the lock: about 2 s
def test_a_waiting_ingest_says_whom_it_waits_for(tmp_path: Path, config_path: Path) -> None:
    f = tmp_path / "china_sites_20190101.csv"
    f.write_text(archive_day(date(2019, 1, 1)))
    db = tmp_path / "envwatch.db"
    loaded = load_config(config_path)
    store = open_store(loaded)
    run_id = store.start_run("cnemc-air-archive", "cnemc-air-archive")
    store.close()
    lock = FileLock(str(db) + ".lock")
    lock.acquire()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "from envwatch.cli import main; main()", "--config", str(config_path), "ingest",
             "cnemc-air-archive", "--file", str(f), "--wait", "1"],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )  # fmt: skip
    finally:
        lock.release()
    assert (
        f"waiting for run {run_id} of cnemc-air-archive (pid {os.getpid()}) to finish; up to 1 s"
        in proc.stderr
    )
    assert proc.returncode == 2


# -- withdraw (issue 15 item 2) ----------------------------------------------------------------


def test_withdraw_takes_a_payload_out_and_keeps_later_revisions(
    tmp_path: Path, envwatch: Callable[..., Result], db_path: Path
) -> None:
    good = tmp_path / "china_sites_20190101.csv"
    good.write_text(archive_day(date(2019, 1, 1), pm25=35))
    assert envwatch("ingest", "cnemc-air-archive", "--file", str(good)).exit_code == 0
    bad_folder = tmp_path / "bad"
    bad_folder.mkdir()
    # the bad payload revises day 1 hours 1-3 and adds hours 4-5
    bad = bad_folder / "china_sites_20190101.csv"
    bad.write_text(archive_day(date(2019, 1, 1), pm25=300, hours=range(1, 6)))
    assert envwatch("ingest", "cnemc-air-archive", "--file", str(bad)).exit_code == 0
    later = tmp_path / "later" / "china_sites_20190101.csv"
    later.parent.mkdir()
    later.write_text(archive_day(date(2019, 1, 1), pm25=80, hours=range(3, 4)))
    assert envwatch("ingest", "cnemc-air-archive", "--file", str(later)).exit_code == 0
    with sqlite3.connect(db_path) as c:
        sha = c.execute("select sha256 from run_payloads where run_id = 2").fetchone()[0]
    r = envwatch("withdraw", sha[:10], "--reason", "wrong instrument")
    assert r.exit_code == 0, r.output
    assert "1 payload(s) withdrawn" in r.output
    with sqlite3.connect(db_path) as c:
        pm25 = dict(
            c.execute(
                "select time_local, pm25 from air_hourly where site_id = '1234A' order by 1"
            ).fetchall()
        )
        ledger = c.execute("select kind, status, error from run_ledger where id = 4").fetchone()
        gone = c.execute(
            "select count(*) from revisions where run_id = 4 and new_flag = 'withdrawn'"
        ).fetchone()[0]
    assert pm25 == {
        "2019-01-01 01:00": 35.0,  # back to the first payload's value
        "2019-01-01 02:00": 35.0,
        "2019-01-01 03:00": 80.0,  # revised later: stays as revised
    }  # hours 4 and 5, only the bad payload gave them: removed, derived rows too
    assert ledger[0] == "withdraw" and ledger[1] == "ok" and "wrong instrument" in ledger[2]
    assert gone == 8  # PM2.5 and PM10 of hours 4-5 at two stations, kept in the log
    # reparse never brings it back
    assert envwatch("reparse", "cnemc-air-archive").exit_code == 0
    with sqlite3.connect(db_path) as c:
        hours = c.execute("select distinct time_local from air_hourly order by 1").fetchall()
    assert [h[0][-5:] for h in hours] == ["01:00", "02:00", "03:00"]
    r = envwatch("withdraw", sha[:10])
    assert r.exit_code == 0 and "already withdrawn" in r.output


def test_withdraw_of_an_unknown_target_says_how_to_find_one(
    envwatch: Callable[..., Result],
) -> None:
    envwatch("init")
    r = envwatch("withdraw", "nonsense!")
    assert r.exit_code == 2 and "run_payloads" in r.output
    r = envwatch("withdraw", "999")
    assert r.exit_code == 2 and "no run 999" in r.output


def test_registry_kinds_cover_the_sample_patterns() -> None:
    assert "china_sites_*.csv" in registry.KINDS["cnemc-air-archive"].patterns


def test_a_store_in_a_read_only_folder_is_not_called_not_a_store(
    envwatch: Callable[..., Result], db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    envwatch("init")
    real = sqlite3.connect

    class ReadOnly(sqlite3.Connection):
        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
            if "journal_mode" in sql:
                raise sqlite3.OperationalError("attempt to write a readonly database")
            return super().execute(sql, *args)  # type: ignore[arg-type]

    from envwatch import store

    monkeypatch.setattr(store.sqlite3, "connect", lambda *a, **k: real(*a, factory=ReadOnly, **k))
    r = envwatch("ingest", "cnemc-air-archive", "--file", str(db_path))
    assert r.exit_code == 2
    assert "not an envwatch store" not in r.output
    assert "cannot write the store" in r.output and "writable" in r.output


def test_withdrawing_a_lab_sheet_removes_its_samples_and_months(
    envwatch: Callable[..., Result], db_path: Path
) -> None:
    example = ROOT / "data" / "examples" / "lab-sheet-example.csv"
    assert envwatch("ingest", "lab-sheet", "--file", str(example), "--add-sites").exit_code == 0
    assert _count(db_path, "select count(*) from water_samples") > 0
    assert _count(db_path, "select count(*) from water_periods") > 0
    r = envwatch("withdraw", "1")
    assert r.exit_code == 0, r.output
    assert _count(db_path, "select count(*) from water_samples") == 0
    assert _count(db_path, "select count(*) from water_periods") == 0
    assert _count(db_path, "select count(*) from observations") == 0
    logged = _count(db_path, "select count(*) from revisions where new_flag = 'withdrawn'")
    assert logged > 0
    r = envwatch("reparse", "lab-sheet")
    assert r.exit_code == 2 and "no archived payloads of lab-sheet" in r.output
    assert _count(db_path, "select count(*) from observations") == 0


def test_a_year_to_date_indicator_of_this_year_is_not_in_the_future(
    tmp_path: Path, envwatch: Callable[..., Result], db_path: Path
) -> None:
    now = datetime.now(TZ)
    f = tmp_path / "indicators.csv"
    f.write_text(
        "指标名称,统计期,数值,单位\n"
        f"危险废物利用处置率,{now.year}年,99.6,%\n"  # this year so far
        f"危险废物产生量,{now.year}年{now.month}月,2950,吨\n",  # this month so far
        encoding="utf-8",
    )
    r = envwatch("ingest", "indicator-sheet", "--file", str(f))
    assert "after now + 1 h" not in r.output, r.output
    flags = _count(db_path, "select count(*) from zero_waste_indicators where flag = 'provisional'")
    assert flags == 2


def test_checks_judge_only_the_values_kept_and_each_value_once(
    tmp_path: Path, envwatch: Callable[..., Result], db_path: Path
) -> None:
    ahead = datetime.now(TZ).date() + timedelta(days=4)
    f = tmp_path / "china_sites.csv"
    text = archive_day(ahead, pm25=99999).replace("1236A", "9999A")  # 9999A: not registered
    f.write_text(text)
    r = envwatch("ingest", "cnemc-air-archive", "--file", str(f))
    assert r.exit_code == 2  # nothing usable
    with sqlite3.connect(db_path) as c:
        rejected = c.execute("select site_id, count(*) from rejects group by 1").fetchall()
    assert rejected == [("1234A", 6)]  # one reject per value (future and implausible: once)
    assert "skipped 6 values of 1 sites not in the registry" in r.output
