"""`envwatch stats`: period figures of an area or a station, and the ranking (issues 13.4, 14.3).

The store holds the two bundled sample days (slim copies: every Ningbo station) with a group
大榭 configured; expected figures are recomputed from the stored daily values in exact
arithmetic (Fraction, Decimal half-to-even), not by the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import envwatch
from envwatch.cli import main
from envwatch.config import load_config
from envwatch.pipeline import ingest
from envwatch.stats import JSON_KEYS, RANK_COLUMNS

from conftest import ROOT, SLIM_DAY1, SLIM_DAY2, write_config

DISTRICTS = [
    "海曙区",
    "江北区",
    "北仑区",
    "镇海区",
    "鄞州区",
    "奉化区",
    "余姚市",
    "慈溪市",
    "宁海县",
    "象山县",
]


@pytest.fixture(scope="session")
def stats_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stats")
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    assert "  groups: []\n" in text
    text = text.replace("  groups: []\n", "  groups: [{name: 大榭, stations: [1234A]}]\n")
    cfg = write_config(folder, text)
    result = ingest(load_config(cfg), "cnemc-air-archive", files=[SLIM_DAY1, SLIM_DAY2])
    assert result.status == "ok"
    return cfg


@pytest.fixture
def run(stats_config: Path) -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, ["--config", str(stats_config), "stats", *args])

    return invoke


def _exact_days(cfg: Path, table: str, key: str, name: str) -> list[dict[str, object]]:
    db = cfg.parent / "envwatch.db"
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            f"SELECT * FROM {table} WHERE {key} = ? AND date BETWEEN '2019-01-01' AND "
            "'2019-01-02' ORDER BY date",
            (name,),
        ).fetchall()
    return [dict(r) for r in rows]


def _half_even(value: Fraction, places: str) -> float:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(Decimal(places), rounding=ROUND_HALF_EVEN))


def test_json_has_exactly_the_keys_and_the_city_figures(run, stats_config):
    result = run(
        "--area", "宁波市", "--since", "2019-01-01", "--until", "2019-01-02", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert list(row) == list(JSON_KEYS)
    assert (
        set(row["exceedance_days"])
        == set(row["primary_days"])
        == {
            "pm25",
            "pm10",
            "so2",
            "no2",
            "co",
            "o3",
        }
    )
    assert (row["area"], row["level"], row["since"], row["until"]) == (
        "宁波市",
        "city",
        "2019-01-01",
        "2019-01-02",
    )
    days = _exact_days(stats_config, "area_day", "area", "宁波市")
    valid = [d for d in days if d["valid"]]
    assert row["n_days"] == 2 and row["n_valid_days"] == len(valid) == 2
    for p in ("pm25", "pm10", "so2", "no2"):
        mean = sum(Fraction(d[f"{p}_exact"]) for d in days) / len(days)
        assert row[p] == _half_even(mean, "1"), p
        assert isinstance(row[p], int)
    good = sum(1 for d in valid if d["aqi"] <= 100)
    assert row["good_day_ratio"] == _half_even(Fraction(good, len(valid)) * 100, "0.1")
    assert row["excellent"] + row["good"] + row["light"] == 2
    # two days: the 95th percentile of CO lies between them, k = 1 + 0.95 = 1.95
    co = sorted(Fraction(d["co_exact"]) for d in days)
    assert row["co_p95"] == _half_even(co[0] + (co[1] - co[0]) * Fraction(95, 100), "0.1")
    assert isinstance(row["comprehensive_index"], float)
    assert row["primary_days"]["pm25"] >= 1


def test_a_station_gives_its_own_figures(run, stats_config):
    result = run("--area", "龙赛医院", "--period", "2019-01", "--format", "json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["area"], row["level"]) == ("1236A 龙赛医院", "station")
    assert (row["since"], row["until"], row["n_days"]) == ("2019-01-01", "2019-01-31", 31)
    days = _exact_days(stats_config, "air_day", "site_id", "1236A")
    mean = sum(Fraction(d["pm25"]) for d in days) / len(days)  # air_day keeps full precision
    assert row["pm25"] == _half_even(mean, "1")


def test_table_has_chinese_headers_and_csv_the_flat_columns(run):
    table = run("--area", "镇海区", "--area", "宁波市", "--period", "2019-W01")
    assert table.exit_code == 0, table.output
    for header in ("区域", "有效天数", "优良率(%)", "PM2.5", "CO-95per", "O3-8h-90per", "综合指数"):
        assert header in table.output
    assert "2018-12-31 至 2019-01-06" in table.output
    assert "首要污染物天数" in table.output
    out = run("--area", "镇海区", "--period", "2019-W01", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert len(rows) == 1 and rows[0]["area"] == "镇海区"
    assert list(rows[0])[:20] == list(JSON_KEYS[:20])
    assert "exceedance_days_o3" in rows[0] and "primary_days_pm25" in rows[0]
    assert rows[0]["pm25"].isdigit()  # published as an integer, not 50.0


def test_a_period_without_valid_days(run):
    result = run("--area", "镇海区", "--period", "2019-02", "--format", "json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["n_days"], row["n_valid_days"]) == (28, 0)
    assert row["good_day_ratio"] is None and row["pm25"] is None
    assert row["comprehensive_index"] is None
    assert row["excellent"] == row["good"] == 0
    table = run("--area", "镇海区", "--period", "2019-02")
    assert table.exit_code == 0 and "—" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--area", "镇海", "--period", "2019"], "did you mean '镇海区'"),
        (["--area", "镇海区", "--period", "2019-13"], "'2019-13' is not a month"),
        (["--area", "镇海区", "--period", "April"], "is not a period"),
        (["--area", "镇海区", "--period", "2019-W60"], "is not an ISO week"),
        (["--area", "镇海区"], "give the period"),
        (["--area", "镇海区", "--period", "2019", "--since", "2019-01-01"], "not both"),
        (["--area", "镇海区", "--since", "2019-02-01", "--until", "2019-01-01"], "before"),
        (["--period", "2019"], "--area NAME"),
        (["--rank", "--area", "镇海区", "--period", "2019"], "--area NAME"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(run, args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_rank_lists_every_district_and_group(run):
    result = run("--rank", "--since", "2019-01-01", "--until", "2019-01-02", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert set(RANK_COLUMNS) <= set(rows[0])
    by = {r["area"]: r for r in rows}
    assert set(by) == {*DISTRICTS, "大榭"}
    assert by["大榭"]["level"] == "group" and by["大榭"]["stations"] == ["1234A"]
    # in 2019 三江中学 (1237A) counts for 江北区, 白沙活动中心 (3710A) not yet
    assert by["江北区"]["stations"] == ["1237A"]
    assert by["镇海区"]["stations"] == ["1236A"]
    assert by["鄞州区"]["stations"] == ["1235A", "1239A", "1240A", "2871A"]  # 1238A stopped
    for name in ("奉化区", "余姚市", "慈溪市", "宁海县", "象山县"):
        assert by[name]["rank_good_day_ratio"] is None and by[name]["n_valid_days"] == 0
        assert by[name]["good_day_ratio"] is None
    ranked = [r for r in rows if r["rank_good_day_ratio"] is not None]
    assert len(ranked) == 6 and rows[: len(ranked)] == ranked  # no-data areas come last
    # every area with data was all good: they share rank 1
    assert {r["good_day_ratio"] for r in ranked} == {100.0}
    assert {r["rank_good_day_ratio"] for r in ranked} == {1}
    # competition ranking on the published index: 1 + the areas with a strictly lower one
    index = [r["comprehensive_index"] for r in ranked]
    for r in ranked:
        better = sum(1 for v in index if v < r["comprehensive_index"])
        assert r["rank_comprehensive_index"] == 1 + better
    # 大榭 is made of 北仑区's one station: same figures, same index rank (a tie)
    assert by["大榭"]["comprehensive_index"] == by["北仑区"]["comprehensive_index"]
    assert by["大榭"]["rank_comprehensive_index"] == by["北仑区"]["rank_comprehensive_index"]


def test_rank_table_and_csv(run):
    table = run("--rank", "--period", "2019-01")
    assert table.exit_code == 0, table.output
    for text in ("优良率排名", "综合指数排名", "参与统计站点", "无数据", "龙赛医院", "大榭"):
        assert text in table.output
    out = run("--rank", "--period", "2019-01", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert list(rows[0]) == list(RANK_COLUMNS)
    by = {r["area"]: r for r in rows}
    assert by["鄞州区"]["stations"] == "1235A;1239A;1240A;2871A"
    assert by["余姚市"]["rank_good_day_ratio"] == ""


def test_figures_from_the_published_daily_values_on_request(stats_config):
    from envwatch.stats import area_stats
    from envwatch.store import Store

    store = Store.readonly(stats_config.parent / "envwatch.db")
    try:
        exact = area_stats(store, "宁波市", "2019-01-01", "2019-01-02").iloc[0]
        published = area_stats(store, "宁波市", "2019-01-01", "2019-01-02", published=True).iloc[0]
    finally:
        store.close()
    days = _exact_days(stats_config, "area_day", "area", "宁波市")
    for p in ("pm25", "no2"):
        assert exact[p] == _half_even(sum(Fraction(d[f"{p}_exact"]) for d in days) / 2, "1")
        assert published[p] == _half_even(sum(Fraction(d[p]) for d in days) / 2, "1")
    terms = (
        Fraction(published["so2"]) / 60
        + Fraction(published["no2"]) / 40
        + Fraction(published["pm10"]) / 70
        + Fraction(published["pm25"]) / 35
        + Fraction(str(published["co_p95"])) / 4
        + Fraction(published["o3_8h_p90"]) / 160
    )
    assert published["comprehensive_index"] == _half_even(terms, "0.01")


def test_the_index_denominators_come_from_the_configuration(run, stats_config, tmp_path):
    args = [
        "--area",
        "镇海区",
        "--since",
        "2019-01-01",
        "--until",
        "2019-01-02",
        "--format",
        "json",
    ]
    [default] = json.loads(run(*args).output)
    text = stats_config.read_text(encoding="utf-8")
    text = text.replace("index_denominators: {}", "index_denominators: {2012: {pm25: 17.5}}")
    assert f"store: {stats_config.parent / 'envwatch.db'}" in text  # the same store
    custom_cfg = tmp_path / "stations.yaml"
    custom_cfg.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(custom_cfg), "stats", *args])
    assert result.exit_code == 0, result.output
    [custom] = json.loads(result.output)
    # PM2.5/17.5 instead of PM2.5/35: the index grows by PM2.5/35 (from the exact mean)
    days = _exact_days(stats_config, "area_day", "area", "镇海区")
    pm25 = sum(Fraction(d["pm25_exact"]) for d in days) / 2
    assert custom["comprehensive_index"] - default["comprehensive_index"] == pytest.approx(
        float(pm25 / 35), abs=0.011
    )
    bad = text.replace("{2012: {pm25: 17.5}}", "{2012: {pm25: 0}}")
    custom_cfg.write_text(bad, encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(custom_cfg), "stats", *args])
    assert result.exit_code == 2 and "index_denominators.2012.pm25: 0 is not a positive" in (
        result.output
    )


def test_python_api_returns_a_dataframe(stats_config):
    with envwatch.open(stats_config.parent / "envwatch.db") as ew:
        df = ew.stats(["宁波市", "1236A"], "2019-01-01", "2019-01-02")
        month = ew.stats("镇海区", period="2019-01")
    assert df["area"].tolist() == ["宁波市", "1236A 龙赛医院"]
    assert df["level"].tolist() == ["city", "station"]
    assert df["n_valid_days"].tolist() == [2, 2]
    assert month["n_days"].iloc[0] == 31
