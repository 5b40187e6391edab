"""The cnemc-air-archive source end to end through the command line, on the real sample days."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

from conftest import SAMPLES, SLIM_DAY1, SLIM_DAY2
from faultserver import FaultServer, Reply

# The registry's stations are Ningbo's, and the slim days hold all of Ningbo's columns as the
# national files publish them (and 35 other stations): the tests ingest those, the whole nation
# would only cost time (test_air_store checks the national files).
DAY1, DAY2 = SLIM_DAY1, SLIM_DAY2

NINGBO = ["1234A", "1235A", "1236A", "1237A", "1238A", "1239A", "1240A", "1241A", "2871A", "3710A"]


def _cells(path: Path, stations: list[str] | None = None) -> int:
    """Non-empty cells of a sample file, counted independently of envwatch's reader."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    cols = (
        [c for c in stations if c in df.columns] if stations is not None else list(df.columns[3:])
    )
    return int((df[cols] != "").to_numpy().sum())


def _db(db_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(db_path)


def test_ingest_registry_stations_then_again_changes_nothing(
    envwatch: Callable[..., Result], db_path: Path
) -> None:
    expected = _cells(DAY1, NINGBO) + _cells(DAY2, NINGBO)
    first = envwatch("ingest", "cnemc-air-archive", "--file", str(DAY1), "--file", str(DAY2))
    assert first.exit_code == 0, first.output
    assert f"{expected:,} new" in first.output
    assert "not in the registry" in first.output  # the other stations are skipped, and it says so
    with _db(db_path) as c:
        assert c.execute("select count(*) from observations").fetchone()[0] == expected
        stored = {r[0] for r in c.execute("select distinct site_id from observations")}
    df = pd.read_csv(DAY1, dtype=str, keep_default_na=False)
    reporting = {s for s in NINGBO if s in df.columns and (df[s] != "").any()}
    assert stored == reporting and len(reporting) >= 8  # 3710A opened after 2019

    second = envwatch("ingest", "cnemc-air-archive", "--file", str(DAY1), "--file", str(DAY2))
    assert second.exit_code == 0
    assert "0 new, 0 revised" in second.output and f"{expected:,} unchanged" in second.output
    with _db(db_path) as c:
        runs = c.execute(
            "select status, new, revised, unchanged, rejected from runs order by id"
        ).fetchall()
        assert runs == [("ok", expected, 0, 0, 0), ("ok", 0, 0, expected, 0)]
        assert c.execute("select count(*) from observations").fetchone()[0] == expected
        # the same two payloads are archived once each
        assert c.execute("select count(*) from raw_payloads").fetchone()[0] == 2
        assert c.execute("select count(*) from run_payloads").fetchone()[0] == 4


def test_hour_zero_is_24h_of_the_day_before_and_co_in_mg(
    envwatch: Callable[..., Result], db_path: Path
) -> None:
    envwatch("ingest", "cnemc-air-archive", "--file", str(DAY1))
    raw = pd.read_csv(DAY1, dtype=str, keep_default_na=False)
    pm25_h0 = float(raw[(raw["hour"] == "0") & (raw["type"] == "PM2.5")]["1236A"].iloc[0])
    co_h5 = float(raw[(raw["hour"] == "5") & (raw["type"] == "CO")]["1236A"].iloc[0])
    with _db(db_path) as c:
        # hour 0 of 2019-01-01 ends at 2019-01-01 00:00 CST = 2018-12-31 16:00 UTC
        row = c.execute(
            "select value from observations where site_id='1236A' and parameter='pm25' "
            "and averaging='1h' and period_end = strftime('%s', '2018-12-31 16:00:00')"
        ).fetchone()
        assert row == (pm25_h0,)
        label = c.execute(
            "select time_local, pm25 from air_hourly where site_id='1236A' order by period_end limit 1"
        ).fetchone()
        assert label == ("2019-01-01 00:00", pm25_h0)
        co = c.execute(
            "select co from air_hourly where site_id='1236A' and time_local='2019-01-01 05:00'"
        ).fetchone()[0]
        assert co == co_h5 and co < 5  # mg/m³, not µg/m³
        assert c.execute("select unit from parameters where code='co'").fetchone()[0] == "mg/m³"


def test_published_aqi_kept_apart_from_computed(
    envwatch: Callable[..., Result], db_path: Path
) -> None:
    envwatch("ingest", "cnemc-air-archive", "--file", str(DAY1))
    with _db(db_path) as c:
        n_pub = c.execute(
            "select count(*) from observations where parameter='aqi_published'"
        ).fetchone()[0]
        assert n_pub == _cells_type(DAY1, "AQI")
        assert (
            c.execute("select count(*) from observations where parameter='aqi'").fetchone()[0] == 0
        )
        rows = c.execute(
            "select aqi, aqi_published from air_hourly where aqi_published is not null"
        ).fetchall()
        assert rows and all(a == p for a, p in rows)


def _cells_type(path: Path, typ: str) -> int:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    cols = [c for c in NINGBO if c in df.columns]
    return int((df[df["type"] == typ][cols] != "").to_numpy().sum())


def test_one_changed_value_is_one_revision(
    envwatch: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    envwatch("ingest", "cnemc-air-archive", "--file", str(DAY1))
    lines = DAY1.read_text().splitlines()
    header = lines[0].split(",")
    col = header.index("1236A")
    # change PM2.5 of hour 10 at 1236A
    for i, line in enumerate(lines):
        f = line.split(",")
        if f[1] == "10" and f[2] == "PM2.5":
            old = f[col]
            f[col] = str(int(old) + 7)
            lines[i] = ",".join(f)
            break
    revised = tmp_path / "china_sites_20190101.csv"
    revised.write_text("\n".join(lines) + "\n")
    result = envwatch("ingest", "cnemc-air-archive", "--file", str(revised))
    assert result.exit_code == 0
    assert "0 new, 1 revised" in result.output
    with _db(db_path) as c:
        revs = c.execute(
            "select site_id, parameter, averaging, old_value, new_value, "
            "datetime(period_end, 'unixepoch', '+8 hours') from revisions"
        ).fetchall()
        assert revs == [("1236A", "pm25", "1h", float(old), float(old) + 7, "2019-01-01 10:00:00")]
        pm25 = c.execute(
            "select pm25 from air_hourly where site_id='1236A' and time_local='2019-01-01 10:00'"
        ).fetchone()[0]
        assert pm25 == float(old) + 7  # the derived hour was recomputed
        assert c.execute("select count(*) from raw_payloads").fetchone()[0] == 2


def test_all_sites_adds_stations_with_names_and_coordinates(
    envwatch: Callable[..., Result], db_path: Path
) -> None:
    # the slim day: 35 stations beyond the registry's, each checked against the station list
    result = envwatch("ingest", "cnemc-air-archive", "--file", str(DAY1), "--all-sites")
    assert result.exit_code == 0, result.output
    assert f"{_cells(DAY1):,} new" in result.output
    listed = pd.read_csv(SAMPLES / "air" / "StationList-2020.01.01.csv", dtype=str).set_index(
        "监测点编码"
    )
    day = pd.read_csv(DAY1, dtype=str, keep_default_na=False)
    others = [s for s in day.columns[3:] if s not in NINGBO]
    assert len(others) == 35 and set(others) <= set(listed.index)
    others = [s for s in others if (day[s] != "").any()]  # a station without values stays out
    assert len(others) >= 30
    with _db(db_path) as c:
        for site in others:
            name, city, lon, lat, origin = c.execute(
                "select name, city, lon, lat, origin from sites where site_id = ?", (site,)
            ).fetchone()
            row = listed.loc[site]
            assert (name, city, origin) == (row["监测点名称"], row["城市"], "feed"), site
            assert (lon, lat) == (float(row["经度"]), float(row["纬度"])), site
        assert c.execute("select name, city from sites where site_id = '1223A'").fetchone() == (
            "滨江",
            "杭州",
        )
        # registry stations keep what the config says
        assert c.execute("select district, origin from sites where site_id='1236A'").fetchone() == (
            "镇海区",
            "config",
        )


def test_districts_by_point_in_polygon(envwatch: Callable[..., Result], db_path: Path) -> None:
    result = envwatch("init")
    assert result.exit_code == 0 and "store ready" in result.output
    with _db(db_path) as c:
        got = dict(c.execute("select site_id, district from sites where kind = 'air'").fetchall())
    # standards/PLAN.md: districts by point in polygon
    assert got == {
        "1234A": "北仑区",
        "1235A": "鄞州区",
        "1236A": "镇海区",
        "1237A": "江北区",
        "1238A": "鄞州区",
        "1239A": "鄞州区",
        "1240A": "鄞州区",
        "1241A": "海曙区",
        "2871A": "鄞州区",
        "3710A": "江北区",
    }


def test_configured_district_disagreeing_is_reported(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from envwatch.cli import main

    from conftest import ROOT, write_config

    text = (
        (ROOT / "stations.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "lat: 29.9572, crs: wgs84, city: 宁波市}",
            "lat: 29.9572, crs: wgs84, city: 宁波市, district: 北仑区}",
        )
    )
    cfg = write_config(tmp_path, text)
    result = CliRunner().invoke(main, ["--config", str(cfg), "init"])
    assert result.exit_code == 0
    assert "1236A is configured in 北仑区 but its coordinates lie in 镇海区" in result.output


def test_query_is_read_only(envwatch: Callable[..., Result], db_path: Path) -> None:
    envwatch("ingest", "cnemc-air-archive", "--file", str(DAY1))
    with _db(db_path) as c:
        before = c.execute("select count(*) from observations").fetchone()[0]
    for sql in (
        "delete from observations",
        "update observations set value = 0",
        "drop table observations",
        "insert into sites (site_id, name, kind, origin, updated_at) values ('x','x','air','x','x')",
        "create table t (a)",
    ):
        result = envwatch("query", sql)
        assert result.exit_code == 2, sql
        assert "read-only" in result.output and "Traceback" not in result.output
    with _db(db_path) as c:
        assert c.execute("select count(*) from observations").fetchone()[0] == before


def test_query_formats(envwatch: Callable[..., Result]) -> None:
    envwatch("ingest", "cnemc-air-archive", "--file", str(DAY1))
    sql = "select site_id, site_name, pm25 from air_hourly where site_id = '1236A' order by period_end limit 2"
    table = envwatch("query", sql).output.splitlines()
    assert table[0].split() == ["site_id", "site_name", "pm25"]
    # Chinese names are double width: the columns after them still line up
    assert table[2].index(table[2].split()[2]) == table[3].index(table[3].split()[2])
    csv = envwatch("query", sql, "--format", "csv").output.splitlines()
    assert csv[0] == "site_id,site_name,pm25" and csv[1].startswith("1236A,龙赛医院,")
    js = envwatch("query", sql, "--format", "json").output
    assert '"site_name": "龙赛医院"' in js
    bad = envwatch("query", "select nope from air_hourly")
    assert bad.exit_code == 2 and "SQL error" in bad.output
    named = envwatch("query", "select count(*) as n from sites where site_id = :s", "-p", "s=1236A")
    assert named.output.splitlines()[2].strip() == "1"


def test_status_shows_last_run_and_newest_data(envwatch: Callable[..., Result]) -> None:
    envwatch("ingest", "cnemc-air-archive", "--file", str(DAY1), "--file", str(DAY2))
    out = envwatch("status").output
    assert "cnemc-air-archive" in out and " ok " in out
    assert "2019-01-02 23:00" in out


def test_dry_run_writes_nothing(envwatch: Callable[..., Result], db_path: Path) -> None:
    result = envwatch("ingest", "cnemc-air-archive", "--file", str(DAY1), "--dry-run")
    assert result.exit_code == 0 and "dry run, nothing written" in result.output
    with _db(db_path) as c:
        assert c.execute("select count(*) from observations").fetchone()[0] == 0
        assert c.execute("select count(*) from raw_payloads").fetchone()[0] == 0
        assert c.execute("select count(*) from runs").fetchone()[0] == 0


def test_url_template_fetches_each_day_of_the_window(
    envwatch: Callable[..., Result], db_path: Path
) -> None:
    with FaultServer() as server:
        server.script("/air/china_sites_20190101.csv", Reply(200, body=DAY1.read_bytes()))
        server.script("/air/china_sites_20190102.csv", Reply(404, body=b"not yet"))
        url = server.url("/air/china_sites_{date:%Y%m%d}.csv")
        result = envwatch(
            "ingest",
            "cnemc-air-archive",
            "--url",
            url,
            "--since",
            "2019-01-01",
            "--until",
            "2019-01-02",
        )
    assert result.exit_code == 1, result.output  # one day failed: partial
    assert "partial" in result.output and "404" in result.output
    with _db(db_path) as c:
        assert c.execute("select count(*) from observations").fetchone()[0] == _cells(DAY1, NINGBO)
        statuses = dict(
            c.execute("select name like '%20190101%', status from run_payloads").fetchall()
        )
        assert statuses == {1: "ok", 0: "failed"}


BAD_INPUTS = {
    "empty.csv": (b"", "empty"),
    "random.csv": (bytes(range(256)) * 20, "not UTF-8"),
    "error.csv": (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML page"),
    "other.csv": (b'{"result": 1, "data": []}', "JSON"),
    "header.csv": (b"datum,stunde,typ,1001A\n20190101,0,AQI,50\n", "expected 'date,hour,type"),
    "gbk.csv": ("日期,小时,类型,1001A\n".encode("gbk"), "not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_fails_cleanly_and_changes_nothing(
    name: str, envwatch: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    envwatch("ingest", "cnemc-air-archive", "--file", str(DAY1))
    with _db(db_path) as c:
        before = c.execute("select sum(value), count(*) from observations").fetchone()
    data, expected = BAD_INPUTS[name]
    bad = tmp_path / name
    bad.write_bytes(data)
    result = envwatch("ingest", "cnemc-air-archive", "--file", str(bad))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    problem = [line for line in result.output.splitlines() if name in line and expected in line]
    assert len(problem) == 1, result.output
    with _db(db_path) as c:
        assert c.execute("select sum(value), count(*) from observations").fetchone() == before
        if data.strip():
            # the raw bytes are archived anyway, for a later re-parse
            assert (
                c.execute(
                    "select count(*) from raw_payloads where size = ?", (len(data),)
                ).fetchone()[0]
                == 1
            )
        status = c.execute("select status, error from runs order by id desc limit 1").fetchone()
        assert status[0] == "failed" and name in status[1]


def test_truncated_file_keeps_the_good_lines(
    envwatch: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    data = DAY1.read_bytes()
    cut = data[: int(len(data) * 0.6)]
    bad = tmp_path / "china_sites_20190101.csv"
    bad.write_bytes(cut)
    result = envwatch("ingest", "cnemc-air-archive", "--file", str(bad))
    assert result.exit_code == 1, result.output  # partial: some rows rejected
    assert "truncated" in result.output
    good_lines = cut.decode().splitlines()[1:-1]
    with _db(db_path) as c:
        n = c.execute("select count(*) from observations").fetchone()[0]
        rejects = c.execute("select location, reason from rejects").fetchall()
    expected = sum(
        1 for line in good_lines for v in (line.split(",")[3 + i] for i in _ningbo_idx()) if v != ""
    )
    assert n == expected
    assert len(rejects) == 1 and "truncated" in rejects[0][1]


def _ningbo_idx() -> list[int]:
    header = DAY1.read_text().splitlines()[0].split(",")[3:]
    return [header.index(s) for s in NINGBO if s in header]


def test_cell_that_is_not_a_number_is_rejected_rest_lands(
    envwatch: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    lines = DAY1.read_text().splitlines()
    col = lines[0].split(",").index("1236A")
    for i, line in enumerate(lines):
        f = line.split(",")
        if f[1] == "7" and f[2] == "SO2":
            f[col] = "12#"
            lines[i] = ",".join(f)
    bad = tmp_path / "china_sites_20190101.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = envwatch("ingest", "cnemc-air-archive", "--file", str(bad))
    assert result.exit_code == 1
    assert (
        "1236A" in result.output and "20190101 hour 7" in result.output and "SO2" in result.output
    )
    with _db(db_path) as c:
        n = c.execute("select count(*) from observations").fetchone()[0]
        assert n == _cells(DAY1, NINGBO) - 1
        reject = c.execute("select site_id, parameter, period_end, raw from rejects").fetchone()
        assert reject == ("1236A", "SO2", "2019-01-01 07:00", "12#")


@pytest.mark.slow  # three envwatch processes: about 2-3 s
def test_cli_subprocess_exit_codes(tmp_path: Path, config_path: Path) -> None:
    """The installed console script: status codes and one-line messages, no traceback."""
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "envwatch"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    # the misspelt source touches no store: it runs alongside the two ingests
    unknown = subprocess.Popen(
        [exe, "--config", config_path, "ingest", "cnemc-air-archiv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ok = subprocess.run(
        [exe, "--config", config_path, "ingest", "cnemc-air-archive", "--file", DAY1],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [exe, "--config", config_path, "ingest", "cnemc-air-archive", "--file", empty],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "empty.csv: the file is empty" in bad.stderr
    assert "Traceback" not in bad.stderr
    _, stderr = unknown.communicate(timeout=60)
    assert unknown.returncode == 2 and "did you mean 'cnemc-air-archive'" in stderr
    assert SAMPLES.exists()
