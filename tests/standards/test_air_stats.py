"""HJ 663 statistics (envwatch.standards.air_stats) against published values and the standard.

Issue 3: daily values on natural days, period statistics, district values and ranking.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from envwatch.standards.air_stats import (
    daily_stats,
    district_daily,
    natural_day,
    percentile,
    period_figures,
    period_stats,
    rank_areas,
)
from envwatch.standards.aqi import daily_aqi, round_half_even, ruleset_for

from .conftest import FEED_TO_CODE

CLEAN = {"pm25": 20.0, "pm10": 30.0, "so2": 5.0, "no2": 10.0, "co": 0.4, "o3": 40.0}
"""A clean hour: every sub-index well below 50."""


def station_day(day: str, site: str = "S1", **values: object) -> pd.DataFrame:
    """The 24 hourly rows of natural day `day` (labels 01:00 … 24:00), CLEAN unless given."""
    labels = pd.date_range(f"{day} 01:00", periods=24, freq="h")
    frame = pd.DataFrame({"site_id": site, "time_local": labels})
    for p, v in {**CLEAN, **values}.items():
        frame[p] = np.asarray(v, dtype=float) if np.ndim(v) else float(v)  # type: ignore[arg-type]
    return frame


# --------------------------------------------------------------------------- percentile


def test_percentile_worked_example_of_hj_663():
    assert percentile([2, 3, 4, 4, 5, 8], 90) == 6.5


@pytest.mark.parametrize("p", [0, 1, 50, 90, 95, 98, 100])
def test_percentile_is_numpy_linear(p):
    values = np.random.default_rng(663).gamma(2.0, 30.0, 365)
    assert percentile(values, p) == pytest.approx(np.percentile(values, p))


def test_percentile_ignores_missing_values():
    assert percentile([np.nan, 2, 3, 4, 4, 5, 8, np.nan], 90) == 6.5
    assert np.isnan(percentile([np.nan], 50))


# --------------------------------------------------------------------------- daily values


def test_daily_means_equal_the_published_24h_means_of_a_natural_day(archive):
    # The archive's X_24h at hour 0 of 2 January is the mean of the 24 values labelled
    # 1 January 01:00 … 24:00: the natural day. Published values are rounded half to even.
    hourly = archive.rename(columns=FEED_TO_CODE)[["site_id", "time_local", *FEED_TO_CODE.values()]]
    daily = daily_stats(hourly)
    day = daily[daily["date"] == pd.Timestamp("2019-01-01")].set_index("site_id")
    published = archive[(archive["date"] == 20190102) & (archive["hour"] == 0)]
    published = published.set_index("site_id")
    checked = 0
    for code, column in (("pm25", "PM2.5_24h"), ("pm10", "PM10_24h"), ("so2", "SO2_24h")) + (
        ("no2", "NO2_24h"),
    ):
        full = day.index[day[f"n_{code}"] == 24]
        pub = published.loc[full, column].dropna()
        ours = round_half_even(day.loc[pub.index, code].to_numpy())
        assert (ours == pub.to_numpy()).all(), code
        checked += len(pub)
    assert checked == 3444
    # O3_24h at 24:00 is the day's largest 1-h value; O3_8h_24h at 24:00 matches the MDA8
    # of every complete day here (8-h values labelled 08:00 … 24:00).
    full = day.index[day["n_o3"] == 24]
    assert len(full) == 924
    assert (day.loc[full, "o3_1h_max"] == published.loc[full, "O3_24h"]).all()
    mda8 = round_half_even(day.loc[full, "o3_8h_max"].to_numpy())
    assert (mda8 == published.loc[full, "O3_8h_24h"].to_numpy()).all()


def test_constant_pm25_70_day_under_both_rule_sets():
    # Issue 3: PM2.5 daily mean 70 is IAQI 94 (良) under 2012 and 110 (轻度污染) under 2026.
    # The last hour of 28 February is labelled 1 March 00:00 and still belongs to the 2012 day.
    hourly = pd.concat([station_day("2026-02-28", pm25=70), station_day("2026-03-01", pm25=70)])
    out = daily_stats(hourly)
    assert out["date"].dt.strftime("%Y-%m-%d").tolist() == ["2026-02-28", "2026-03-01"]
    assert out["rules"].tolist() == ["2012", "2026"]
    assert out["pm25"].tolist() == [70.0, 70.0]
    assert out["aqi"].tolist() == [94, 110]
    assert out["category"].astype(str).tolist() == ["良", "轻度污染"]
    assert out["primary_pollutant"].astype(str).tolist() == ["PM2.5", "PM2.5"]
    assert out["valid"].tolist() == [True, True]


def test_a_day_with_19_valid_hours_is_not_valid():
    pm25 = np.full(24, 50.0)
    pm25[:5] = np.nan
    out = daily_stats(pd.concat([station_day("2019-03-01", pm25=pm25), station_day("2019-03-02")]))
    assert out["n_pm25"].tolist() == [19, 24]
    assert np.isnan(out["pm25"].iloc[0])
    assert out["valid"].tolist() == [False, True]


def test_a_day_with_20_valid_hours_is_valid():
    pm25 = np.full(24, 50.0)
    pm25[:4] = np.nan
    out = daily_stats(station_day("2019-03-01", pm25=pm25))
    assert out["pm25"].tolist() == [50.0]
    assert out["valid"].tolist() == [True]


def test_hour_labelled_midnight_belongs_to_the_day_before():
    frame = station_day("2019-01-01", pm25=np.arange(24.0))
    out = daily_stats(frame)
    assert len(out) == 1 and out["date"].iloc[0] == pd.Timestamp("2019-01-01")
    assert out["pm25"].iloc[0] == pytest.approx(11.5)
    assert natural_day(["2019-01-02 00:00", "2019-01-02 01:00"]).astype(str).tolist() == [
        "2019-01-01",
        "2019-01-02",
    ]


def _o3_day(o3: np.ndarray) -> pd.Series:
    return daily_stats(station_day("2019-07-01", o3=o3)).iloc[0]


def test_mda8_with_13_valid_8h_values_above_160_still_counts():
    o3 = np.full(24, 170.0)
    o3[18:] = np.nan  # hours labelled 19:00 … 24:00 missing: 13 valid 8-h values
    day = _o3_day(o3)
    assert day["n_o3_8h"] == 13
    assert day["o3_8h_max"] == 170.0


def test_mda8_with_13_valid_8h_values_within_the_limit_is_missing():
    o3 = np.full(24, 150.0)
    o3[18:] = np.nan
    day = _o3_day(o3)
    assert day["n_o3_8h"] == 13
    assert np.isnan(day["o3_8h_max"])
    assert not day["valid"]


def test_mda8_with_14_valid_8h_values_counts():
    o3 = np.full(24, 150.0)
    o3[19:] = np.nan
    day = _o3_day(o3)
    assert day["n_o3_8h"] == 14
    assert day["o3_8h_max"] == 150.0


def test_mda8_exceeding_only_before_rounding_does_not_count():
    o3 = np.full(24, 160.4)
    o3[18:] = np.nan
    assert np.isnan(_o3_day(o3)["o3_8h_max"])  # 160.4 rounds to 160: not above the limit


def test_mda8_windows_are_labelled_by_their_last_hour():
    # The 8-h value labelled 08:00 is the mean of the hours labelled 01:00 … 08:00.
    o3 = np.full(24, 40.0)
    o3[:7] = 300.0  # labels 01:00 … 07:00
    assert _o3_day(o3)["o3_8h_max"] == pytest.approx((7 * 300 + 40) / 8)
    o3 = np.full(24, 40.0)
    o3[16:] = 200.0  # labels 17:00 … 24:00: the value labelled 24:00
    assert _o3_day(o3)["o3_8h_max"] == 200.0


def test_previous_day_does_not_enter_the_mda8():
    before = station_day("2019-06-30", o3=np.full(24, 400.0))
    day = daily_stats(pd.concat([before, station_day("2019-07-01")])).iloc[1]
    assert day["o3_8h_max"] == 40.0


def test_an_8h_value_needs_6_hours():
    o3 = np.full(24, 40.0)
    o3[16:] = 200.0
    o3[[17, 19, 21]] = np.nan  # the windows labelled 22:00, 23:00, 24:00 keep 5 hours each
    day = _o3_day(o3)
    assert day["n_o3_8h"] == 14
    assert day["o3_8h_max"] == 120.0  # labelled 21:00: (3 x 40 + 3 x 200) / 6


def test_o3_daily_max_1h_needs_20_hours_unless_above_200():
    o3 = np.full(24, 150.0)
    o3[19:] = np.nan
    assert np.isnan(_o3_day(o3)["o3_1h_max"])
    o3[0] = 250.0
    assert _o3_day(o3)["o3_1h_max"] == 250.0


def test_o3_1h_max_enters_the_2012_day_only():
    o3 = np.full(24, 40.0)
    o3[12] = 300.0  # O3 1-h IAQI 150
    out = daily_stats(
        pd.concat([station_day("2026-02-27", o3=o3), station_day("2026-03-02", o3=o3)])
    )
    # 2026: PM2.5 20 -> 29; MDA8 (7 x 40 + 300) / 8 = 72.5 -> 72 -> 36
    assert out["aqi"].tolist() == [150, 36]
    assert out["primary_pollutant"].astype(str).tolist() == ["O3_1h", ""]


def test_duplicate_station_hours_are_refused():
    frame = station_day("2019-01-01")
    with pytest.raises(ValueError, match="more than once"):
        daily_stats(pd.concat([frame, frame.iloc[:1]]))


def test_daily_aqi_uses_the_columns_of_daily_stats():
    out = daily_stats(station_day("2019-01-01", pm10=np.full(24, 151.0)))
    assert out["iaqi_pm10"].tolist() == [101]
    assert out["exceeding"].astype(str).tolist() == ["PM10"]


# --------------------------------------------------------------------------- periods


def daily_frame(dates: pd.DatetimeIndex, site: str = "S1", **values: object) -> pd.DataFrame:
    """Daily values (as daily_stats gives them) with the daily AQI, CLEAN unless given."""
    base = {
        "pm25": 20.0,
        "pm10": 30.0,
        "so2": 5.0,
        "no2": 10.0,
        "co": 0.4,
        "o3_8h_max": 40.0,
        "o3_1h_max": 60.0,
    }
    frame = pd.DataFrame({"site_id": site, "date": dates})
    for col, v in {**base, **values}.items():
        frame[col] = np.asarray(v, dtype=float) if np.ndim(v) else float(v)  # type: ignore[arg-type]
    frame["rules"] = ruleset_for(dates)
    frame = pd.concat([frame, daily_aqi(frame, frame["rules"])], axis=1)
    frame["valid"] = frame[list(base)].notna().all(axis=1)
    return frame


YEAR_2019 = pd.date_range("2019-01-01", "2019-12-31", freq="D")


def test_period_statistics_of_a_month():
    january = pd.date_range("2019-01-01", "2019-01-31", freq="D")
    pm25 = np.r_[np.full(10, 30.0), np.full(10, 70.0), np.full(11, 100.0)]
    daily = daily_frame(january, pm25=pm25)
    row = period_stats(daily, "2019-01-01", "2019-01-31").iloc[0]
    assert row["n_valid_days"] == 31
    assert row["good_days"] == 20
    assert row["good_day_ratio"] == pytest.approx(20 / 31 * 100)
    assert (row["days_excellent"], row["days_good"], row["days_lightly_polluted"]) == (10, 10, 11)
    assert row["polluted_days"] == 11
    assert row["exceed_days_pm25"] == 11
    assert row["exceed_multiple_pm25"] == pytest.approx(25 / 75)
    assert row["exceed_days_pm10"] == 0 and np.isnan(row["exceed_multiple_pm10"])
    assert row["days_primary_pm25"] == 21  # PM2.5 leads every day above AQI 50
    assert row["polluted_days_pm25"] == 11 and row["polluted_days_o3"] == 0
    assert row["pm25_mean"] == pytest.approx(pm25.mean())
    assert row["pm25_p95"] == pytest.approx(percentile(pm25, 95))
    assert row["pm25_valid"] and row["validity_note"] == ""


def test_a_month_needs_27_daily_values_and_february_25():
    dates = YEAR_2019
    pm25 = np.full(len(dates), 20.0)
    pm25[(dates.month == 2) & (dates.day <= 4)] = np.nan  # February: 24 values
    pm25[(dates.month == 3) & (dates.day <= 4)] = np.nan  # March: 27 values
    daily = daily_frame(dates, pm25=pm25)
    feb = period_stats(daily, "2019-02-01", "2019-02-28").iloc[0]
    assert not feb["pm25_valid"] and feb["so2_valid"]
    assert feb["validity_note"] == "pm25 2019-02: 24 of 25 days"
    march = period_stats(daily, "2019-03-01", "2019-03-31").iloc[0]
    assert march["pm25_valid"]
    year = period_stats(daily, "2019-01-01", "2019-12-31").iloc[0]
    assert not year["pm25_valid"] and not year["comprehensive_index_valid"]


def _missing_days(n_missing: int) -> np.ndarray:
    """Drop days without breaking the monthly rule: 3 per month, then one more per 31-day month."""
    days = YEAR_2019
    drop = np.isin(days.day, [10, 11, 12])
    long_months = [m for m in range(1, 13) if days[days.month == m].size == 31]
    for m in long_months[: n_missing - 36]:
        drop |= (days.month == m) & (days.day == 13)
    assert drop.sum() == n_missing
    return drop


def test_a_year_needs_324_daily_values():
    no2 = np.full(len(YEAR_2019), 30.0)
    no2[_missing_days(41)] = np.nan
    ok = period_stats(daily_frame(YEAR_2019, no2=no2), "2019-01-01", "2019-12-31").iloc[0]
    assert ok["n_no2"] == 324 and ok["no2_valid"]
    no2[_missing_days(42)] = np.nan
    short = period_stats(daily_frame(YEAR_2019, no2=no2), "2019-01-01", "2019-12-31").iloc[0]
    assert short["n_no2"] == 323 and not short["no2_valid"]
    assert short["validity_note"] == "no2 2019: 323 of 324 days"


def test_comprehensive_index_and_configurable_denominators():
    daily = daily_frame(YEAR_2019, so2=6.0, no2=20.0, pm10=35.0, pm25=17.5, co=0.8, o3_8h_max=80.0)
    row = period_stats(daily, "2019-01-01", "2019-12-31").iloc[0]
    # 6/60 + 20/40 + 35/70 + 17.5/35 + 0.8/4 + 80/160
    assert row["comprehensive_index"] == pytest.approx(0.1 + 0.5 + 0.5 + 0.5 + 0.2 + 0.5)
    assert row["comprehensive_index_valid"]
    custom = period_stats(
        daily, "2019-01-01", "2019-12-31", denominators={"2012": {"pm25": 17.5}}
    ).iloc[0]
    assert custom["comprehensive_index"] == pytest.approx(2.8)
    ignored = period_stats(daily, "2019-01-01", "2019-12-31", denominators={"2026": {"pm25": 1}})
    assert ignored["comprehensive_index"].iloc[0] == pytest.approx(2.3)


def test_year_to_date_across_the_change_of_rule_set():
    dates = pd.date_range("2026-02-20", "2026-03-10", freq="D")
    daily = daily_frame(dates, pm25=70.0)
    row = period_stats(daily, "2026-02-20", "2026-03-10").iloc[0]
    assert row["rules"] == "2026"
    # 70 exceeds the 2026 daily limit (60) from 1 March, not 2012's 75 before.
    assert row["exceed_days_pm25"] == 10
    assert row["exceed_multiple_pm25"] == pytest.approx(10 / 60)
    assert row["good_days"] == 9 and row["polluted_days"] == 10
    # February 20-28 may miss as many days as February may: 9 - 3 = 6 needed.
    assert row["pm25_valid"]


def test_days_led_by_pm25_and_by_o3():
    dates = pd.date_range("2019-07-01", "2019-07-31", freq="D")
    pm25 = np.r_[np.full(5, 100.0), np.full(26, 20.0)]
    mda8 = np.r_[np.full(5, 40.0), np.full(10, 200.0), np.full(16, 120.0)]
    row = period_stats(daily_frame(dates, pm25=pm25, o3_8h_max=mda8), dates[0], dates[-1]).iloc[0]
    assert row["polluted_days_pm25"] == 5
    assert row["polluted_days_o3"] == 10
    assert row["days_primary_o3"] == 26
    assert row["exceed_days_o3_8h"] == 10


def test_invalid_days_do_not_count_in_the_good_day_ratio():
    dates = pd.date_range("2019-01-01", "2019-01-31", freq="D")
    co = np.full(31, 0.4)
    co[:3] = np.nan
    pm25 = np.r_[np.full(3, 100.0), np.full(28, 20.0)]
    row = period_stats(daily_frame(dates, co=co, pm25=pm25), dates[0], dates[-1]).iloc[0]
    assert row["n_days"] == 31 and row["n_valid_days"] == 28
    assert row["good_day_ratio"] == 100.0


def test_period_of_several_sites_and_an_empty_period():
    daily = pd.concat(
        [daily_frame(YEAR_2019, "A", pm25=30.0), daily_frame(YEAR_2019, "B", pm25=60.0)]
    )
    out = period_stats(daily, "2019-06-01", "2019-06-30")
    assert out["site_id"].tolist() == ["A", "B"]
    assert out["pm25_mean"].tolist() == [30.0, 60.0]
    assert period_stats(daily, "2020-01-01", "2020-01-31").empty


# --------------------------------------------------------------------------- districts


SITES = pd.DataFrame(
    {
        "site_id": ["a1", "a2", "a3", "a4", "abg", "b1", "b2"],
        "district": ["A", "A", "A", "A", "A", "B", "B"],
        "background": [False, False, False, False, True, False, False],
    }
)


def _station_days(pm25: dict[str, float]) -> pd.DataFrame:
    day = pd.DatetimeIndex(["2019-05-01"])
    return pd.concat([daily_frame(day, site, pm25=v) for site, v in pm25.items()])


def test_district_needs_75_percent_of_its_stations_50_under_four():
    nan = np.nan
    three = _station_days(
        {"a1": 20, "a2": 40, "a3": 60, "a4": nan, "abg": 500, "b1": 30, "b2": nan}
    )
    out = district_daily(three, SITES).set_index("district")
    assert out.loc["A", "pm25"] == 40.0  # 3 of 4; the background station is left out
    assert out.loc["A", "n_stations"] == 4 and out.loc["A", "n_valid_pm25"] == 3
    assert out.loc["B", "pm25"] == 30.0  # 1 of 2 is enough with fewer than four stations
    two = _station_days({"a1": 20, "a2": 40, "a3": nan, "a4": nan, "b1": nan, "b2": nan})
    out = district_daily(two, SITES).set_index("district")
    assert np.isnan(out.loc["A", "pm25"]) and not out.loc["A", "valid"]
    assert np.isnan(out.loc["B", "pm25"])
    assert out.loc["A", "so2"] == 5.0  # coverage is judged per pollutant


def test_district_aqi_is_computed_from_the_mean_not_averaged():
    days = _station_days({"b1": 35, "b2": 500})  # station AQIs 50 and 500
    out = district_daily(days, SITES).set_index("district")
    assert out.loc["B", "pm25"] == 267.5  # rounds to 268: 300 + 18 = 318, not (50 + 500) / 2
    assert out.loc["B", "aqi"] == 318
    assert out.loc["B", "category"] == "严重污染"


def test_ranking_of_districts_names_those_without_data():
    period = pd.DataFrame(
        {
            "district": ["A", "B", "C"],
            "good_day_ratio": [80.0, 90.0, 80.0],
            "comprehensive_index": [4.1, 3.2, 3.9],
            "n_valid_days": [300, 310, 320],
            "pm25": [30.0, 28.0, 31.0],
        }
    )
    out = rank_areas(period, ["A", "B", "C", "D"], by="district").set_index("district")
    order = ["A", "B", "C", "D"]
    assert out.loc[order, "rank_good_day_ratio"].tolist() == [2, 1, 2, pd.NA]  # A, C tie
    assert out.loc[order, "rank_comprehensive_index"].tolist() == [3, 1, 2, pd.NA]
    assert out["no_data"].tolist() == [False, False, False, True]
    assert out.index.tolist() == ["B", "C", "A", "D"]


def test_district_pipeline_from_station_days_to_ranking():
    daily = pd.concat(
        [
            daily_frame(YEAR_2019, "a1", pm25=30.0),
            daily_frame(YEAR_2019, "a2", pm25=50.0),
            daily_frame(YEAR_2019, "b1", pm25=90.0),
        ]
    )
    districts = district_daily(daily, SITES)
    period = period_figures(districts, "2019-01-01", "2019-12-31", by="district")
    ranked = rank_areas(period, ["A", "B", "C"], by="district").set_index("district")
    # A has 2 of 4 stations: below 75 %, so no PM2.5 value and no valid day.
    assert ranked.loc["A", "no_data"] and ranked.loc["C", "no_data"]
    assert ranked.loc["B", "rank_good_day_ratio"] == 1
    assert ranked.loc["B", "good_day_ratio"] == 0.0


def test_a_period_whose_days_have_no_values_gives_no_statistics_not_an_error():
    # a store's first natural day can hold only hour 00:00 with nothing valid: every
    # concentration is None (object dtype), as air.district_daily returns it
    days = pd.date_range("2024-12-31", "2024-12-31", freq="D")
    daily = daily_frame(
        days,
        pm25=np.nan,
        pm10=np.nan,
        so2=np.nan,
        no2=np.nan,
        co=np.nan,
        o3_8h_max=np.nan,
        o3_1h_max=np.nan,
    )
    for col in ("pm25", "pm10", "so2", "no2", "co", "o3_8h_max", "o3_1h_max"):
        daily[col] = pd.Series([None] * len(daily), dtype=object)
    row = period_stats(daily, "2024-01-01", "2024-12-31").iloc[0]
    assert row["n_valid_days"] == 0 and row["n_pm25"] == 0
    assert np.isnan(row["pm25_p95"]) and np.isnan(row["pm25_mean"])
