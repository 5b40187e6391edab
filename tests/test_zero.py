"""污水零直排 and 无废城市: staff sheets through the real ingest, checked and scored."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from envwatch import scoring
from envwatch.cli import main
from envwatch.config import load_config
from envwatch.pipeline import open_store

from conftest import ROOT, write_config

EXAMPLES = ROOT / "data" / "examples"


def _cli(cfg: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(cfg), *args])
    return result.exit_code, result.output


def _score(cfg: Path, period: str) -> pd.DataFrame:
    loaded = load_config(cfg)
    store = open_store(loaded)
    try:
        return scoring.score(loaded, store, period, today=date(2026, 11, 22)).set_index("target_id")
    finally:
        store.close()


OUTFALLS = (
    "排口编号,排口名称,所属零直排区,受纳水体,排口类型,经度,纬度,巡查时间,天气,是否排水,流量(m³/h),氨氮(mg/L),化学需氧量(mg/L),总磷(mg/L)\n"
    "T-YS-01,测试雨水排口,甲园区,甲河,雨水,121.70,29.98,2026-11-03 09:00,晴,是,1.2,3.1,50,0.5\n"
    "T-YS-02,测试雨水排口二,甲园区,甲河,雨水,121.71,29.98,2026-11-04 09:00,雨,是,5,2.6,30,0.2\n"
    "T-WS-01,测试污水排口,乙小区,甲河,污水,121.72,29.98,2026-11-04 10:00,晴,是,8,1.2,30,0.3\n"
    "T-YS-03,测试雨水排口三,乙小区,甲河,雨水,121.73,29.98,2026-10-20 10:00,晴,否,,,,\n"
)


def test_outfall_inspections_are_checked_and_scored(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    sheet = tmp_path / "outfalls.csv"
    sheet.write_text(OUTFALLS, encoding="utf-8")
    code, out = _cli(cfg, "ingest", "outfall-sheet", "--file", str(sheet))
    assert code == 2 and "add-sites" in out  # unknown outfalls: a suggestion of what to do
    code, out = _cli(cfg, "ingest", "outfall-sheet", "--file", str(sheet), "--add-sites")
    assert code == 0, out
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        checks = dict(c.execute("select site_id, violation from outfall_inspections").fetchall())
        district = c.execute("select district from sites where site_id = 'T-YS-01'").fetchone()[0]
    assert checks["T-YS-01"] == "晴天排水"  # a rain outfall discharging on a dry day
    assert checks["T-YS-02"] == "雨天超标：氨氮 2.6 > 2"  # GB 3838 Ⅴ for NH3-N, from stations.yaml
    assert checks["T-WS-01"] == ""  # treated effluent may flow on a dry day
    assert district == "镇海区"
    df = _score(cfg, "2026-W45")
    row = df.loc["zero_discharge.outfalls"]
    assert row["value"] == 2 and not row["met"]
    assert "测试雨水排口三" in row["detail"]  # not inspected this week: listed
    assert "甲园区 2 次" in row["detail"]
    quiet = _score(cfg, "2026-W40").loc["zero_discharge.outfalls"]
    assert pd.isna(quiet["met"]) and quiet["value_text"] == "无数据"


def test_bad_rows_of_an_outfall_sheet_are_rejected_and_the_rest_lands(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    good = tmp_path / "first.csv"
    good.write_text(OUTFALLS, encoding="utf-8")
    _cli(cfg, "ingest", "outfall-sheet", "--file", str(good), "--add-sites")
    bad = tmp_path / "second.csv"
    bad.write_text(
        "排口编号,巡查时间,天气,是否排水,流量(m³/h),氨氮(mg/L),化学需氧量(mg/L),总磷(吨)\n"
        "T-YS-01,2026-11-10 09:00,晴,否,,,,\n"
        "T-YS-0l,2026-11-10 09:30,晴,否,,,,\n"  # misspelt
        "T-YS-02,2099-01-01 09:00,晴,否,,,,\n"  # in the future
        "T-YS-01,2026-11-10 09:00,晴,否,,,,\n"  # duplicate
        "T-YS-02,2026-11-11 09:00,雨,是,2,1.0,20,0.2\n",  # TP in 吨: cannot convert
        encoding="utf-8",
    )
    code, out = _cli(cfg, "ingest", "outfall-sheet", "--file", str(bad))
    assert code == 1, out
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        reasons = [
            r[0] for r in c.execute("select reason from rejects where payload = 'second.csv'")
        ]
        n = c.execute(
            "select count(*) from outfall_inspections where time_local like '2026-11-1%'"
        ).fetchone()[0]
    assert len(reasons) == 4
    assert "unknown outfall 'T-YS-0l'; did you mean" in reasons[0]
    assert "in the future" in reasons[1]
    assert "duplicate of row 2" in reasons[2]
    assert "'吨' does not convert to mg/L" in reasons[3]
    assert n == 2  # the good rows landed


def test_zones_indicators_and_cells_from_the_example_sheets(tmp_path: Path) -> None:
    text = (
        (ROOT / "stations.yaml")
        .read_text(encoding="utf-8")
        .replace("cell_tasks: {}", "cell_tasks: {2019: {学校: 1, 工厂: 2, 车站: 1}}")
    )
    cfg = write_config(tmp_path, text)
    for kind in ("zone", "indicator", "cells"):
        code, out = _cli(
            cfg, "ingest", f"{kind}-sheet", "--file", str(EXAMPLES / f"{kind}-sheet-example.csv")
        )
        assert code == 0, out
    again = _cli(cfg, "ingest", "zone-sheet", "--file", str(EXAMPLES / "zone-sheet-example.csv"))[1]
    assert "0 new, 0 revised" in again
    outlines = _cli(
        cfg, "ingest", "zone-sheet", "--file", str(EXAMPLES / "zone-sheet-example.geojson")
    )[1]
    assert "revised" in outlines
    df = _score(cfg, "2019-W01")
    ind = df.loc["zero_waste.indicators"]
    # only 危险废物利用处置率 has a goal (PLAN.md: 100%); January's 99.6% misses it
    assert ind["value_text"] == "0/1 项达标" and not ind["met"]
    assert "一般工业固体废物综合利用率" in ind["detail"] and "未设目标" in ind["detail"]
    cells = df.loc["zero_waste.cells"]
    assert cells["value_text"] == "2/3 类完成" and not cells["met"]
    assert "工厂 1/2（未完成）" in cells["detail"]
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        zones = c.execute(
            "select count(*), sum(geometry is not null) from zero_discharge_zones"
        ).fetchone()
        districts = {r[0] for r in c.execute("select district from zero_waste_cells")}
    assert zones == (7, 7) and districts == {"镇海区"}


def test_an_indicator_sheet_with_an_unknown_indicator_and_a_bad_unit(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    sheet = tmp_path / "ind.csv"
    sheet.write_text(
        "指标名称,统计期,数值,单位\n危险废物利用处置率,2026年9月,100,%\n危险废物利用处理率,2026年9月,100,%\n"
        "危险废物利用处置率,2026年8月,100,吨\n",
        encoding="utf-8",
    )
    code, out = _cli(cfg, "ingest", "indicator-sheet", "--file", str(sheet))
    assert code == 1, out
    assert "did you mean" in out or "危险废物利用处置率" in out
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        rows = c.execute("select period, value from zero_waste_indicators").fetchall()
        reasons = " ".join(r[0] for r in c.execute("select reason from rejects"))
    assert rows == [("2026-09", 100.0)]
    assert "吨" in reasons and "%" in reasons
