"""The plan's targets scored per period against the data in the store."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from envwatch import scoring
from envwatch.cli import main
from envwatch.config import KNOWN_TARGETS, load_config
from envwatch.errors import UsageError
from envwatch.pipeline import ingest, open_store

from conftest import ROOT, SLIM_DAY1, SLIM_DAY2, copy_store, write_config


def test_periods_and_the_period_before() -> None:
    today = date(2026, 11, 22)
    week = scoring.parse_period("2026-W47", today)
    assert (week.start, week.end, week.kind) == (date(2026, 11, 16), date(2026, 11, 22), "week")
    assert week.previous().label == "2026-W46"
    assert scoring.parse_period("2026-W1", today).start == date(2025, 12, 29)
    month = scoring.parse_period("2026-03", today)
    assert (month.start, month.end, month.previous().label) == (
        date(2026, 3, 1),
        date(2026, 3, 31),
        "2026-02",
    )
    ytd = scoring.parse_period("2026", today)
    assert (ytd.start, ytd.end) == (date(2026, 1, 1), today)  # the current year runs to today
    assert (ytd.previous().start, ytd.previous().end) == (date(2025, 1, 1), date(2025, 11, 22))
    assert scoring.parse_period("2025", today).end == date(2025, 12, 31)
    assert scoring.last_complete_week(today) == "2026-W46"  # Sunday 22 Nov is in W47
    with pytest.raises(UsageError, match="2026-W47"):
        scoring.parse_period("week 47", today)


def _ningbo_days(folder: Path, tmp_path: Path, text: str | None = None) -> Path:
    cfg_path = write_config(tmp_path, text)
    result = ingest(load_config(cfg_path), "cnemc-air-archive", files=[SLIM_DAY1, SLIM_DAY2])
    assert result.status == "ok"
    return cfg_path


@pytest.fixture(scope="module")
def sample_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two slim sample days ingested with stations.yaml as it is (tests take a copy)."""
    folder = tmp_path_factory.mktemp("scoring")
    return _ningbo_days(folder, folder)


def _copy(sample_days: Path, tmp_path: Path) -> Path:
    """A test's own copy of `sample_days`: its configuration and store in `tmp_path`."""
    copy_store(sample_days.parent / "envwatch.db", tmp_path / "envwatch.db")
    return write_config(tmp_path)


def test_air_targets_on_the_sample_week(sample_days: Path, tmp_path: Path) -> None:
    cfg_path = _copy(sample_days, tmp_path)
    loaded = load_config(cfg_path)
    store = open_store(loaded)
    try:
        df = scoring.score(loaded, store, "2019-W01", today=date(2026, 11, 22)).set_index(
            "target_id"
        )
    finally:
        store.close()
    assert set(df.index) == set(KNOWN_TARGETS)
    # 镇海区 is 1236A alone: its daily AQI was 54 and 83 on 1 and 2 January (both 良)
    gdr = df.loc["air.good_day_ratio"]
    assert gdr["value"] == 100.0 and bool(gdr["met"]) and gdr["value_text"] == "100%"
    assert "有效天数 2" in gdr["detail"]
    rank = df.loc["air.rank_in_city"]
    assert rank["value"] == 1.0 and bool(rank["met"])
    # the districts without data are named, never ranked
    for name in ("余姚市", "慈溪市", "奉化区", "宁海县", "象山县"):
        assert name in rank["detail"]
    pm25 = df.loc["air.pm25_annual"]
    # the district's area values: the mean of 38.375 and 61.208… is 49.79…, published as 50
    # (rounded once, as the bulletins publish it); the city's value is given for context
    assert not pm25["met"] and pm25["value"] == 50.0 and pm25["value_text"] == "50 µg/m³"
    assert "全市" in pm25["detail"]
    assert "全市优良率 100%" in gdr["detail"]
    # every district with data had only good days: they share rank 1
    assert rank["value_text"] == "并列第 1 名（5 个辖区有数据）"
    o3 = df.loc["air.pm25_o3_co_control"]
    assert o3["value"] == float(round(o3["value"]))  # O3-8h-90per published as an integer
    # no data is never met
    for target in ("water.good_ratio", "zero_waste.cells", "zero_discharge.outfalls"):
        assert df.loc[target, "met"] is pd.NA and df.loc[target, "value_text"] == "无数据"


def test_the_rank_is_among_districts_and_groups(tmp_path: Path) -> None:
    # issue 14: the city ranks its 辖区, districts and functional areas such as 大榭 (here a
    # group made of 北仑区's station, so the two tie)
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = text.replace("  groups: []\n", "  groups: [{name: 大榭, stations: [1234A]}]\n")
    loaded = load_config(_ningbo_days(tmp_path, tmp_path, text))
    store = open_store(loaded)
    try:
        df = scoring.score(loaded, store, "2019-W01", today=date(2026, 11, 22))
    finally:
        store.close()
    rank = df.set_index("target_id").loc["air.rank_in_city"]
    assert rank["value_text"] == "并列第 1 名（6 个辖区有数据）"
    assert "大榭100%" in rank["detail"] and "北仑区100%" in rank["detail"]
    assert "奉化区" in rank["detail"].split("无数据：")[1]  # named, never ranked


def test_a_polluted_week_misses_the_goal_and_shows_the_trend(
    sample_days: Path, tmp_path: Path
) -> None:
    cfg_path = _copy(sample_days, tmp_path)
    loaded = load_config(cfg_path)
    # the week after: the same two days, PM2.5 at 1236A four times higher
    lines = SLIM_DAY1.read_text().splitlines()
    col = lines[0].split(",").index("1236A")
    out = [lines[0]]
    for day in ("20190107", "20190108", "20190109"):
        for line in lines[1:]:
            f = line.split(",")
            f[0] = day
            if f[2] == "PM2.5" and f[col]:
                f[col] = str(int(f[col]) * 4)
            out.append(",".join(f))
    polluted = tmp_path / "china_sites_20190107.csv"
    polluted.write_text("\n".join(out) + "\n")
    ingest(loaded, "cnemc-air-archive", files=[polluted])
    store = open_store(loaded)
    try:
        df = scoring.score(loaded, store, "2019-W02", today=date(2026, 11, 22)).set_index(
            "target_id"
        )
    finally:
        store.close()
    gdr = df.loc["air.good_day_ratio"]
    assert not gdr["met"] and gdr["value"] < 93 and gdr["previous"] == 100.0 and gdr["trend"] == "↓"
    assert df.loc["air.pm25_annual", "trend"] == "↑"


ZHENHAI_SECTIONS = """
  - {id: zh-1, name: 甲河, kind: water, river: 甲河, district: 镇海区, control_level: 市控, water_type: river, target_class: 3}
  - {id: zh-2, name: 乙河, kind: water, river: 甲河, district: 镇海区, control_level: 市控, water_type: river, target_class: 4}
  - {id: zh-3, name: 丙河, kind: water, river: 甲河, district: 镇海区, control_level: 区控, water_type: river, target_class: 3}
"""


def test_water_targets_cover_the_districts_sections(tmp_path: Path) -> None:
    text = (
        (ROOT / "stations.yaml")
        .read_text(encoding="utf-8")
        .replace("\nsources:", ZHENHAI_SECTIONS + "\nsources:", 1)
    )
    cfg_path = write_config(tmp_path, text)
    loaded = load_config(cfg_path)
    sheet = tmp_path / "s.csv"
    sheet.write_text(
        "section,sampled_at,ph,do,codmn,nh3n,tp\n"
        "甲河,2026-11-02 09:00,7.4,6.2,3.3,0.6,0.12\n"  # Ⅲ, target 3: met
        "乙河,2026-11-02 09:00,7.4,6.2,3.3,1.9,0.12\n"  # Ⅴ, target 4: missed
        "丙河,2026-11-02 09:00,7.4,6.2,3.3,2.5,0.12\n",  # 劣Ⅴ but 区控: outside 市控 and above
        encoding="utf-8",
    )
    assert ingest(loaded, "lab-sheet", files=[sheet]).status == "ok"
    store = open_store(loaded)
    try:
        df = scoring.score(loaded, store, "2026-11", today=date(2026, 11, 22)).set_index(
            "target_id"
        )
        scoring.save(store, df.reset_index())
        scoring.save(store, df.reset_index())  # scoring again replaces the period's rows
    finally:
        store.close()
    assert df.loc["water.good_ratio", "value"] == 50.0 and not df.loc["water.good_ratio", "met"]
    assert (
        df.loc["water.no_class_v", "value"] == 1 and "乙河" in df.loc["water.no_class_v", "detail"]
    )
    assert df.loc["water.target_compliance", "value"] == 50.0
    assert "乙河" in df.loc["water.target_compliance", "detail"]
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        rows = c.execute(
            "select count(*), sum(met is null) from scorecard where period = '2026-11'"
        ).fetchone()
    assert rows[0] == len(KNOWN_TARGETS) and rows[1] >= 4


def test_score_command_prints_and_keeps_the_scorecard(sample_days: Path, tmp_path: Path) -> None:
    cfg_path = _copy(sample_days, tmp_path)
    result = CliRunner().invoke(main, ["--config", str(cfg_path), "score", "--period", "2019-W01"])
    assert result.exit_code == 0, result.output
    assert "空气质量优良率" in result.output and "✓" in result.output and "无数据" in result.output
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        got = c.execute(
            "select value, met from scorecard where period = '2019-W01' and target_id = 'air.good_day_ratio'"
        ).fetchone()
    assert got == (100.0, 1)
    bad = CliRunner().invoke(main, ["--config", str(cfg_path), "score", "--period", "2019-13"])
    assert bad.exit_code == 2 and "not a month" in bad.output
