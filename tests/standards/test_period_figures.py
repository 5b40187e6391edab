"""Period figures as the bulletins publish them, and the ranking of areas (issues 13.4, 14.3).

Expected values are worked by hand and checked against an exact reference (Fraction for the
arithmetic, Decimal ROUND_HALF_EVEN for GB/T 8170 rounding), never against the code under test.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from envwatch.standards.air_stats import period_figures, rank_areas, round_figures
from envwatch.standards.aqi import daily_aqi, ruleset_for

APRIL = pd.date_range("2019-04-01", "2019-04-30", freq="D")

BASE = {
    "pm25": 20.0,
    "pm10": 30.0,
    "so2": 5.0,
    "no2": 10.0,
    "co": 0.4,
    "o3_8h_max": 40.0,
    "o3_1h_max": 60.0,
}


def area_days(dates: pd.DatetimeIndex, area: str = "宁波市", **values: object) -> pd.DataFrame:
    """An area's daily values at full precision with their daily AQI, BASE unless given."""
    frame = pd.DataFrame({"area": area, "date": dates})
    for col, v in {**BASE, **values}.items():
        frame[col] = np.asarray(v, dtype=float) if np.ndim(v) else float(v)  # type: ignore[arg-type]
    frame["rules"] = ruleset_for(dates)
    frame = pd.concat([frame, daily_aqi(frame, frame["rules"])], axis=1)
    frame["valid"] = frame[list(BASE)].notna().all(axis=1)
    return frame


def hj663_percentile(values: list[Fraction], p: int) -> Fraction:
    """HJ 663 A.6 in exact arithmetic: k = 1 + (n − 1)·p/100, linear between neighbours."""
    x = sorted(values)
    k = 1 + Fraction(len(x) - 1) * p / 100
    s = int(k)
    if s >= len(x):
        return x[-1]
    return x[s - 1] + (x[s] - x[s - 1]) * (k - s)


def gbt8170(value: Fraction, places: str) -> float:
    """GB/T 8170 (round half to even) of an exact value, e.g. places '0.1'."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(Decimal(places), rounding=ROUND_HALF_EVEN))


def test_a_month_rounded_once_from_full_precision():
    # April 2019, 30 days. PM2.5 44.54 every day: published 45; rounding to 0.1 first would
    # give 44.5 and then 44 (issue 13). Two days lack CO, so 28 valid days; four are lightly
    # polluted by PM10 (180 µg/m³, IAQI 115) and five by O3 (MDA8 165 … 185).
    pm25 = np.full(30, 44.54)
    pm10 = np.r_[np.full(4, 180.0), np.full(26, 60.25)]
    so2 = np.r_[np.full(15, 6.0), np.full(15, 7.0)]  # mean 6.5: half to even gives 6
    no2 = np.arange(30, dtype=float) + 20.0  # 20 … 49, mean 34.5 -> 34
    co = np.round(np.linspace(0.4, 1.27, 30), 3)
    co[[5, 6]] = np.nan
    o3 = np.arange(30, dtype=float) * 5 + 40.0  # 40 … 185
    daily = area_days(APRIL, pm25=pm25, pm10=pm10, so2=so2, no2=no2, co=co, o3_8h_max=o3)
    row = period_figures(daily, "2019-04-01", "2019-04-30").iloc[0]

    assert row["n_days"] == 30 and row["n_valid_days"] == 28
    assert (row["excellent"], row["good"], row["light"], row["moderate"]) == (0, 19, 9, 0)
    assert row["good_day_ratio"] == gbt8170(Fraction(19, 28) * 100, "0.1") == 67.9
    assert row["pm25"] == 45.0
    pm10_mean = (4 * Fraction(180) + 26 * Fraction("60.25")) / 30  # 76.216…
    assert row["pm10"] == gbt8170(pm10_mean, "1") == 76.0
    assert row["so2"] == 6.0 and row["no2"] == 34.0

    co_exact = [Fraction(str(c)) for c in co if not np.isnan(c)]
    co_p95 = hj663_percentile(co_exact, 95)
    assert row["co_p95"] == gbt8170(co_p95, "0.1")
    # 30 MDA8 values: k = 1 + 29 × 0.9 = 27.1, X27 = 170, X28 = 175: 170.5 -> 170 (half to even)
    o3_p90 = hj663_percentile([Fraction(int(v)) for v in o3], 90)
    assert o3_p90 == Fraction(341, 2) and row["o3_8h_p90"] == 170.0

    index = (
        Fraction(13, 2) / 60
        + Fraction(69, 2) / 40
        + pm10_mean / 70
        + Fraction("44.54") / 35
        + co_p95 / 4
        + o3_p90 / 160
    )
    assert row["comprehensive_index"] == gbt8170(index, "0.01")
    # O3 MDA8 above 160 on five days (165 … 185); PM10 above 150 on four
    assert row["exceedance_o3"] == 5 and row["exceedance_pm10"] == 4
    assert row["exceedance_pm25"] == 0
    # Primary pollutant by day: PM10 on days 1-4; PM2.5 (IAQI 63) on days 5-15, of which 6 and
    # 7 are not valid; on day 16 O3 115 (IAQI 62.5 -> 63) ties with PM2.5 and both count; O3
    # leads days 16-30.
    assert (row["primary_pm10"], row["primary_pm25"], row["primary_o3"]) == (4, 10, 15)
    assert row["primary_no2"] == row["primary_so2"] == row["primary_co"] == 0
    assert row["validity_note"] == ""


def test_the_index_from_published_figures_when_asked():
    # PM2.5 44.54 (published 45), the rest BASE: SO2 5, NO2 10, PM10 30, CO 0.4, O3 40
    daily = area_days(APRIL, pm25=np.full(30, 44.54))
    exact = period_figures(daily, "2019-04-01", "2019-04-30").iloc[0]
    published = period_figures(daily, "2019-04-01", "2019-04-30", index_from_published=True).iloc[0]
    rest = (
        Fraction(5, 60) + Fraction(10, 40) + Fraction(30, 70) + Fraction(4, 40) + Fraction(40, 160)
    )
    assert exact["comprehensive_index"] == gbt8170(rest + Fraction("44.54") / 35, "0.01") == 2.38
    assert published["comprehensive_index"] == gbt8170(rest + Fraction(45, 35), "0.01") == 2.40


def test_unrounded_figures_keep_full_precision():
    daily = area_days(APRIL, pm25=np.full(30, 44.54))
    exact = period_figures(daily, "2019-04-01", "2019-04-30", rounded=False).iloc[0]
    assert exact["pm25"] == pytest.approx(44.54)
    assert round_figures(exact.to_frame().T)["pm25"].iloc[0] == 45.0


def test_o3_exceedance_counts_the_1h_maximum_under_2012_only():
    days = pd.DatetimeIndex(["2019-07-01", "2019-07-02", "2026-07-01", "2026-07-02"])
    daily = area_days(
        days,
        o3_8h_max=[160.4, 150.0, 150.0, 160.5],  # 160.4 rounds to 160: not above the limit
        o3_1h_max=[150.0, 201.0, 240.0, 150.0],
    )
    row = period_figures(daily, days[0], days[-1]).iloc[0]
    # 2019-07-02: 1-h maximum 201 > 200 under 2012; 2026-07-01's 240 does not count under
    # 2026 (the 1-h value left the daily AQI); 2026-07-02: MDA8 160.5 -> 160 (even): not above.
    assert row["exceedance_o3"] == 1
    assert row["n_days"] == (days[-1] - days[0]).days + 1


def test_a_period_with_no_valid_days():
    daily = area_days(APRIL, co=np.nan)
    row = period_figures(daily, "2019-04-01", "2019-04-30").iloc[0]
    assert row["n_valid_days"] == 0
    assert row["excellent"] + row["good"] + row["light"] == 0
    assert np.isnan(row["good_day_ratio"])
    assert np.isnan(row["co_p95"]) and np.isnan(row["comprehensive_index"])
    assert row["pm25"] == 20.0  # the other means are still known
    assert "co 2019-04: 0 of 27 days" in row["validity_note"]


def test_groups_are_figured_separately():
    daily = pd.concat(
        [area_days(APRIL, "镇海区", pm25=30.0), area_days(APRIL, "北仑区", pm25=80.0)]
    )
    out = period_figures(daily, "2019-04-01", "2019-04-30").set_index("area")
    assert out.loc["镇海区", "good_day_ratio"] == 100.0
    assert out.loc["北仑区", "good_day_ratio"] == 0.0
    assert out.loc["北仑区", "exceedance_pm25"] == 30 and out.loc["北仑区", "primary_pm25"] == 30


# --------------------------------------------------------------------------- ranking


def _figures(**columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_ties_share_the_better_rank_1224():
    figures = _figures(
        area=["A", "B", "C", "D"],
        n_valid_days=[30, 30, 28, 30],
        good_day_ratio=[93.3, 96.7, 93.3, 90.0],
        comprehensive_index=[3.21, 3.21, 3.05, 4.4],
        pm25=[24.0, 22.0, 25.0, 30.0],
    )
    out = rank_areas(figures, ["A", "B", "C", "D"]).set_index("area")
    assert out.loc[["B", "A", "C", "D"], "rank_good_day_ratio"].tolist() == [1, 2, 2, 4]
    assert out.loc[["C", "A", "B", "D"], "rank_comprehensive_index"].tolist() == [1, 2, 2, 4]
    assert out.index.tolist() == ["B", "C", "A", "D"]  # good-day rank, then index rank


def test_areas_without_data_are_listed_and_not_ranked():
    figures = _figures(
        area=["A", "B"],
        n_valid_days=[30, 0],
        good_day_ratio=[93.3, np.nan],
        comprehensive_index=[3.2, np.nan],
        pm25=[24.0, 20.0],
    )
    out = rank_areas(figures, ["余姚市", "A", "B"]).set_index("area")
    assert out.index.tolist() == ["A", "余姚市", "B"]
    assert out.loc["A", "rank_good_day_ratio"] == 1
    assert out.loc[["余姚市", "B"], "no_data"].tolist() == [True, True]
    assert out.loc[["余姚市", "B"], "rank_good_day_ratio"].isna().all()
    assert out.loc[["余姚市", "B"], "rank_comprehensive_index"].isna().all()
    assert np.isnan(out.loc["B", "pm25"])  # no valid day: nothing shown
