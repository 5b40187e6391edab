"""envwatch.open: DataFrames with proper dtypes and local hour-ending times; the docstring runs."""

from __future__ import annotations

import doctest
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from demo import Demo, demo_copy

import envwatch
import envwatch.api
from envwatch.errors import UsageError


@pytest.fixture(scope="module")
def demo(demo_store: Demo) -> Demo:
    return demo_store


@pytest.fixture
def ew(demo: Demo) -> Iterator[envwatch.StoreReader]:
    reader = envwatch.open(demo.db)
    yield reader
    reader.close()


def test_the_module_documentation_examples_run(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(demo.folder)  # the examples open "envwatch.db"
    result = doctest.testmod(envwatch.api, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10 and result.failed == 0


def test_import_envwatch_is_light_and_names_its_public_api() -> None:
    code = "import sys, envwatch; print('pandas' in sys.modules, envwatch.__all__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False ['StoreReader', 'open']"
    assert envwatch.StoreReader is envwatch.api.StoreReader


def test_dtypes(ew: envwatch.StoreReader) -> None:
    hourly = ew.air_hourly()
    assert str(hourly["time_local"].dtype) == "datetime64[us]"
    assert hourly["pm25"].dtype == "float64" and str(hourly["aqi"].dtype) == "Int64"
    assert hourly["site_name"].dtype == "string"
    assert hourly["category"].cat.ordered and list(hourly["category"].cat.categories)[:2] == [
        "优",
        "良",
    ]
    bad = hourly.loc[hourly["category"] > "良"]
    assert len(bad) and (bad["aqi"] > 100).all()
    water = ew.water_samples()
    assert str(water["class"].dtype) == "Int64" and water["nh3n"].dtype == "float64"
    assert water["class_label"].cat.categories[-1] == "劣Ⅴ"
    periods = ew.water_periods()
    assert isinstance(periods["period"].dtype, pd.PeriodDtype)
    assert str(periods["meets_target"].dtype) == "boolean"
    runs = ew.runs()
    assert str(runs["started_at"].dtype) == "datetime64[us, UTC]" and len(runs) == 3
    sites = ew.sites("air")
    assert len(sites) == 10 and str(sites["background"].dtype) == "boolean"


def test_time_local_is_hour_ending_and_days_are_natural_days(ew: envwatch.StoreReader) -> None:
    day1 = ew.air_hourly("1236A", "2019-01-01", "2019-01-01")
    # hours labelled 01:00 … 24:00; the 24th hour is written as the next day's 00:00
    assert day1["time_local"].dt.hour.tolist() == [*range(1, 24), 0]
    assert day1["time_local"].iloc[-1] == pd.Timestamp("2019-01-02 00:00")
    day2 = ew.air_hourly("1236A", "2019-01-02", "2019-01-02")
    assert pd.Timestamp("2019-01-02 00:00") not in set(day2["time_local"])
    # the same labels as the air_hourly view, from the exact instant
    view = ew.query(
        "select time_local from air_hourly where site_id = '1236A' and time_local > "
        "'2019-01-01 00:00' and time_local <= '2019-01-02 00:00' order by period_end"
    )
    assert day1["time_local"].dt.strftime("%Y-%m-%d %H:%M").tolist() == view["time_local"].tolist()
    utc = pd.to_datetime(day1["period_end"], unit="s", utc=True)
    assert ((day1["time_local"] - utc.dt.tz_localize(None)) == pd.Timedelta(hours=8)).all()


def test_sites_by_id_or_name_and_clear_errors(ew: envwatch.StoreReader) -> None:
    by_name = ew.air_daily(["龙赛医院", "1235A"], "2019-01-01", "2019-01-02")
    assert sorted(by_name["site_id"].unique()) == ["1235A", "1236A"]
    with pytest.raises(UsageError, match="did you mean '龙赛医院'"):
        ew.air_daily("龙塞医院")
    with pytest.raises(UsageError, match="not a date"):
        ew.air_daily(start="2019-13-01")
    with pytest.raises(UsageError, match="after end"):
        ew.air_daily(start="2019-01-02", end="2019-01-01")


def test_empty_results_keep_their_columns_and_dtypes(ew: envwatch.StoreReader) -> None:
    empty = ew.air_daily(start="2030-01-01")
    assert empty.empty and list(empty.columns) == envwatch.api.TABLES["air_daily"].column_names
    assert str(empty["aqi"].dtype) == "Int64"
    card = ew.scorecard()
    assert card.empty and "met" in card.columns


def test_scorecard_when_filled(demo_store: Demo, tmp_path: Path) -> None:
    copy = demo_copy(demo_store, tmp_path)
    with sqlite3.connect(copy.db) as conn:
        conn.executemany(
            "INSERT INTO score (period, target_id, label, value, value_text, unit, goal, met, "
            "previous, trend, detail, period_start, period_end, computed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ("2019", "air.good_day_ratio", "空气质量优良率", 87.5, "87.5%", "%", "93", 0,
                 90.1, "falling", "", "2019-01-01", "2019-12-31", "2026-11-22T00:00:00Z"),
                ("2019-01", "air.pm25_annual", "PM2.5年均浓度", 30.0, None, "µg/m³", "24",
                 None, None, None, "数据不足", "2019-01-01", "2019-01-31",
                 "2026-11-22T00:00:00Z"),
            ],
        )  # fmt: skip
    with envwatch.open(copy.db) as ew:
        card = ew.scorecard()
        assert card["met"].tolist() == [False, pd.NA]
        assert str(card["met"].dtype) == "boolean" and card["value"].dtype == "float64"
        assert card["period_start"].iloc[0] == pd.Timestamp("2019-01-01")
        assert str(card["computed_at"].dtype) == "datetime64[us, UTC]"
        assert ew.scorecard("2019-01")["target_id"].tolist() == ["air.pm25_annual"]
        assert ew.scorecard(start="2019-06-01")["period"].tolist() == ["2019"]


def test_observations_long_format_with_units(ew: envwatch.StoreReader) -> None:
    obs = ew.observations("1236A", "2019-01-01", "2019-01-01", parameters=["pm25", "co"])
    assert set(obs["parameter"]) == {"pm25", "co"}
    assert dict(obs.groupby("parameter")["unit"].first()) == {"co": "mg/m³", "pm25": "µg/m³"}
    hourly = ew.air_hourly("1236A", "2019-01-01", "2019-01-01")
    pm25 = obs.loc[(obs["parameter"] == "pm25") & (obs["averaging"] == "1h")]
    assert pm25["value"].tolist() == hourly["pm25"].dropna().tolist()
