"""China's AQI (envwatch.standards.aqi) against published CNEMC values and HJ 633's rules.

Issue 3: "envwatch's scores are only worth something if they equal the official ones".
"""

from __future__ import annotations

import functools
import math
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from envwatch.standards.aqi import (
    BREAKPOINTS,
    CATEGORY_COLOURS,
    IAQI_LEVELS,
    category_of,
    daily_aqi,
    hourly_aqi,
    iaqi,
    ruleset_for,
)

from .conftest import FEED_TO_CODE

# --------------------------------------------------------------------------- reference


@functools.cache
def reference_iaqi(conc: str, key: str, rules: str) -> int | None:
    """HJ 633 by hand for one value (given as text): 500 above the table, None if negative."""
    bps = BREAKPOINTS[rules][key]
    quantum = Decimal("0.1") if key.startswith("co") else Decimal("1")
    c = Fraction(Decimal(conc).quantize(quantum, rounding=ROUND_HALF_EVEN))
    if c < 0:
        return None
    if c > bps[-1]:
        return 500
    for i in range(1, len(bps)):
        lo, hi = Fraction(bps[i - 1]), Fraction(bps[i])
        if c <= hi:
            il, ih = IAQI_LEVELS[i - 1], IAQI_LEVELS[i]
            return math.ceil(il + (ih - il) * (c - lo) / (hi - lo))
    raise AssertionError("unreachable")


HOURLY_KEY = {
    "pm25": "pm25_24h",
    "pm10": "pm10_24h",
    "so2": "so2_1h",
    "no2": "no2_1h",
    "co": "co_1h",
    "o3": "o3_1h",
}
HOURLY_CODE = {"pm25": "PM2.5", "pm10": "PM10", "so2": "SO2", "no2": "NO2", "co": "CO", "o3": "O3"}


def one_row(**conc: float) -> pd.DataFrame:
    return pd.DataFrame({k: [float(v)] for k, v in conc.items()})


# --------------------------------------------------------------------------- published data


@pytest.fixture(scope="module")
def sample(archive: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(archive station-hours, their computed hourly AQI under the 2012 rule set)."""
    conc = archive.rename(columns=FEED_TO_CODE)[list(FEED_TO_CODE.values())]
    return archive, hourly_aqi(conc, "2012")


def test_every_published_hourly_aqi_is_reproduced(sample):
    archive, computed = sample
    published = archive["AQI"]
    has = published.notna()
    assert has.sum() == 65_836  # every published AQI cell of the two sample days
    got = computed["aqi"].astype("Float64")
    differ = has & (got != published).fillna(True)
    mismatches = archive.loc[differ, ["site_id", "time_local", "AQI"]]
    assert mismatches.empty, (
        f"{len(mismatches)} differ, e.g. {mismatches.head(3).to_dict('records')}"
    )


def test_primary_pollutant_of_every_published_hour(sample):
    # The archive has no primary-pollutant row: check ours against an independent exact
    # computation and the published AQI: exactly the pollutants whose IAQI equals the
    # published AQI, listed in HJ 633's order, none when the AQI is at most 50.
    archive, computed = sample
    has = archive["AQI"].notna()
    rows = archive[has]
    ref = pd.DataFrame(
        {
            p: [
                -1 if pd.isna(v) else (reference_iaqi(repr(float(v)), HOURLY_KEY[p], "2012") or -1)
                for v in rows[feed]
            ]
            for feed, p in FEED_TO_CODE.items()
        },
        index=rows.index,
    )
    published = rows["AQI"].astype(int)
    assert (ref.max(axis=1) == published).all()
    ties = ref.eq(published, axis=0) & (published > 50).to_numpy()[:, None]
    expected = pd.Series("", index=rows.index)
    for p in ref.columns:
        expected += np.where(ties[p], HOURLY_CODE[p] + ",", "")
    expected = expected.str.rstrip(",")
    got = computed.loc[has, "primary_pollutant"].astype(str)
    assert (got == expected).all()
    assert (got[published <= 50] == "").all()
    assert got.str.contains(",").sum() > 400  # the samples do hold ties (PM2.5,PM10 ...)


def test_published_aqi_row_is_never_read(sample):
    # A feed without an AQI row gives the same answer, and a wrong AQI column changes nothing.
    archive, computed = sample
    conc = archive.rename(columns=FEED_TO_CODE)[list(FEED_TO_CODE.values())]
    with_garbage = conc.assign(AQI=999.0, aqi=0.0)
    again = hourly_aqi(with_garbage, "2012")
    # DataFrame.equals: same columns, dtypes and values (assert_frame_equal takes seconds on
    # the categorical columns); on a failure, the cells that differ
    assert again.dtypes.equals(computed.dtypes)
    assert again.equals(computed), again.compare(computed)
    assert "AQI" not in conc.columns


# --------------------------------------------------------------------------- breakpoints


@pytest.mark.parametrize("rules", ["2012", "2026"])
@pytest.mark.parametrize("key", sorted(BREAKPOINTS["2012"]))
def test_every_rounded_concentration_of_every_table(rules, key):
    # Each breakpoint, each value between them, and each half-way input (input rounding).
    bps = BREAKPOINTS[rules][key]
    step = Decimal("0.1") if key.startswith("co") else Decimal("1")
    top = int(Decimal(str(bps[-1])) / step)
    grid = [step * k for k in range(top + 2)] + [step * k + step / 2 for k in range(top + 1)]
    values = np.array([float(g) for g in grid])
    got = iaqi(values, key, rules)
    expected = [reference_iaqi(str(g), key, rules) for g in grid]
    assert got.tolist() == expected


@pytest.mark.parametrize("rules", ["2012", "2026"])
@pytest.mark.parametrize("key", sorted(BREAKPOINTS["2012"]))
def test_breakpoints_give_their_iaqi_exactly(rules, key):
    bps = BREAKPOINTS[rules][key]
    assert iaqi(list(bps), key, rules).tolist() == list(IAQI_LEVELS[: len(bps)])


@pytest.mark.parametrize(
    ("table", "conc", "expected"),
    [
        ("pm25_24h", 35, 50),
        ("pm25_24h", 35.5, 52),  # rounds to 36 (half to even): 50 + 50/40 = 51.25, up to 52
        ("pm25_24h", 34.5, 49),  # rounds to 34: 50 x 34/35 = 48.57, up to 49
        ("pm25_24h", 75.5, 102),  # 76: 100 + 50/40 = 101.25
        ("pm10_24h", 150.5, 100),  # 150 (half-up would give 151 and 101)
        ("co_24h", 2.05, 50),  # 2.0
        ("co_24h", 2.15, 55),  # 2.2
        ("co_24h", 2.25, 55),  # 2.2
        ("co_24h", 2.35, 60),  # 2.4
        ("co_24h", 2.0000000001, 50),  # float noise must not make 51
        ("o3_8h", 160 + 1e-9, 100),
        ("o3_8h", 159.99999999, 100),
        ("pm25_24h", 70, 94),  # 50 + 50/40 x 35 = 93.75
    ],
)
def test_input_rounding_and_round_up(table, conc, expected):
    assert iaqi([conc], table, "2012").tolist() == [expected]


def test_pm25_70_is_good_in_2012_and_light_pollution_in_2026():
    day = pd.DataFrame({"pm25": [70.0, 70.0]})
    out = daily_aqi(day, ["2012", "2026"])
    assert out["aqi"].tolist() == [94, 110]
    assert out["category"].astype(str).tolist() == ["良", "轻度污染"]
    assert out["primary_pollutant"].astype(str).tolist() == ["PM2.5", "PM2.5"]


def test_2026_pm10_breakpoint_at_120():
    out = hourly_aqi(pd.DataFrame({"pm10": [120.0, 120.0]}), ["2012", "2026"])
    assert out["iaqi_pm10"].tolist() == [85, 100]  # 2012: 50 + 50 x 70/100 = 85


# --------------------------------------------------------------------------- special cases


def test_so2_1h_above_800_in_2012_uses_the_24h_mean():
    conc = pd.DataFrame({"so2": [801.0, 801.0, 800.0], "so2_24h": [100.0, np.nan, 100.0]})
    out = hourly_aqi(conc, "2012")
    # 100 on the 24-h table: 50 + 100 x 50/100 = 75; no 24-h mean: no SO2 sub-index.
    assert out["iaqi_so2"].tolist() == [75, pd.NA, 200]
    assert out["aqi"].tolist() == [75, pd.NA, 200]


def test_so2_1h_above_800_in_2026_is_200():
    out = hourly_aqi(pd.DataFrame({"so2": [801.0, 5000.0]}), "2026")
    assert out["iaqi_so2"].tolist() == [200, 200]
    assert out["category"].astype(str).tolist() == ["中度污染", "中度污染"]


def test_o3_8h_above_800_in_2012_reports_the_1h_sub_index():
    day = pd.DataFrame({"o3_8h_max": [801.0], "o3_1h_max": [900.0], "pm25": [30.0]})
    out = daily_aqi(day, "2012")
    assert out["iaqi_o3_8h"].isna().all()
    assert out["iaqi_o3_1h"].tolist() == [350]  # 300 + 100 x 100/200
    assert out["aqi"].tolist() == [350]
    assert out["primary_pollutant"].astype(str).tolist() == ["O3_1h"]


def test_o3_8h_above_800_in_2026_is_300():
    day = pd.DataFrame(
        {"o3_8h_max": [801.0], "o3_1h_max": [900.0], "pm25": [30.0], "pm10": [40.0]}
        | {"so2": [5.0], "no2": [20.0], "co": [0.5]}
    )
    out = daily_aqi(day, "2026")
    assert out["iaqi_o3_8h"].tolist() == [300]
    assert out["iaqi_o3_1h"].isna().all()  # 2026's daily AQI has no O3 1-h sub-index
    assert out["primary_pollutant"].astype(str).tolist() == ["O3_8h"]


def test_above_the_top_of_a_table_is_500():
    out = hourly_aqi(one_row(pm25=501, no2=4000, co=151), "2012")
    assert out.loc[0, ["iaqi_pm25", "iaqi_no2", "iaqi_co", "aqi"]].tolist() == [500] * 4
    assert out.loc[0, "primary_pollutant"] == "PM2.5,NO2,CO"


def test_negative_concentrations_are_missing():
    assert hourly_aqi(one_row(pm25=-3, pm10=40), "2012")["iaqi_pm25"].isna().all()


# --------------------------------------------------------------------------- missing values


FULL_DAY = {"pm25": 30.0, "pm10": 40.0, "so2": 5.0, "no2": 20.0, "co": 0.5, "o3_8h_max": 60.0}


def test_2026_daily_aqi_is_na_when_a_pollutant_is_missing_and_the_rest_is_at_most_100():
    low = dict(FULL_DAY, pm10=np.nan, pm25=70.0)  # rest: IAQI 110 under 2026
    lower = dict(FULL_DAY, pm10=np.nan, pm25=50.0)  # rest: 2026 80 (50 + 50 x 15/25); 2012 69
    out = daily_aqi(pd.DataFrame([low, lower, lower]), ["2026", "2026", "2012"])
    assert out["aqi"].tolist() == [110, pd.NA, 69]
    assert out["category"].astype(object).isna().tolist() == [False, True, False]
    assert out["primary_pollutant"].astype(str).tolist() == ["PM2.5", "", "PM2.5"]


def test_2026_o3_1h_max_missing_does_not_trigger_the_na_rule():
    out = daily_aqi(pd.DataFrame([dict(FULL_DAY, o3_1h_max=np.nan)]), "2026")
    assert out["aqi"].tolist() == [43]  # PM2.5 30: 50 x 30/35 = 42.9


def test_hourly_aqi_skips_missing_pollutants_under_both_rule_sets():
    conc = pd.DataFrame({"pm25": [50.0, 50.0], "pm10": [np.nan, np.nan]})
    out = hourly_aqi(conc, ["2012", "2026"])
    assert out["aqi"].tolist() == [69, 80]


def test_nothing_to_compute_is_na():
    out = hourly_aqi(pd.DataFrame({"pm25": [np.nan]}), "2012")
    assert out["aqi"].isna().all()
    assert out["primary_pollutant"].astype(str).tolist() == [""]


# --------------------------------------------------------------------------- primary, exceeding


def test_ties_list_every_primary_pollutant_in_order():
    out = hourly_aqi(one_row(pm10=150, pm25=75, o3=200, so2=10), "2012")
    assert out.loc[0, "aqi"] == 100
    assert out.loc[0, "primary_pollutant"] == "PM2.5,PM10,O3"


def test_no_primary_pollutant_at_50_or_below():
    out = hourly_aqi(pd.DataFrame({"pm25": [35.0, 36.0]}), "2012")
    assert out["primary_pollutant"].astype(str).tolist() == ["", "PM2.5"]


def test_exceeding_pollutants_in_2012_only():
    conc = pd.DataFrame({"pm25": [76.0, 76.0], "pm10": [151.0, 151.0], "no2": [100.0, 100.0]})
    out = hourly_aqi(conc, ["2012", "2026"])
    assert out["exceeding"].astype(str).tolist() == ["PM2.5,PM10", ""]


def test_daily_tie_between_o3_8h_and_o3_1h():
    out = daily_aqi(pd.DataFrame([dict(FULL_DAY, o3_8h_max=160.0, o3_1h_max=200.0)]), "2012")
    assert out.loc[0, "primary_pollutant"] == "O3_8h,O3_1h"


# --------------------------------------------------------------------------- rule sets, classes


def test_ruleset_switches_on_2026_03_01():
    dates = [date(2026, 2, 28), date(2026, 3, 1), datetime(2030, 1, 1, 5)]
    assert ruleset_for(dates).tolist() == ["2012", "2026", "2026"]
    stamps = pd.to_datetime(["2026-02-28 23:00", "2026-03-01 00:00"]).tz_localize("Asia/Shanghai")
    assert ruleset_for(stamps).tolist() == ["2012", "2026"]
    assert ruleset_for(np.array(["2019-01-01", "2026-03-01"], dtype="datetime64[D]")).tolist() == [
        "2012",
        "2026",
    ]
    assert ruleset_for("2026-03-01").tolist() == ["2026"]


def test_unknown_rule_set_is_refused():
    with pytest.raises(ValueError, match="2019"):
        hourly_aqi(one_row(pm25=1), "2019")


@pytest.mark.parametrize(
    ("aqi", "category", "level", "colour"),
    [
        (0, "优", "一级", "#00E400"),
        (50, "优", "一级", "#00E400"),
        (51, "良", "二级", "#FFFF00"),
        (100, "良", "二级", "#FFFF00"),
        (101, "轻度污染", "三级", "#FF7E00"),
        (150, "轻度污染", "三级", "#FF7E00"),
        (151, "中度污染", "四级", "#FF0000"),
        (200, "中度污染", "四级", "#FF0000"),
        (201, "重度污染", "五级", "#99004C"),
        (300, "重度污染", "五级", "#99004C"),
        (301, "严重污染", "六级", "#7E0023"),
        (500, "严重污染", "六级", "#7E0023"),
    ],
)
def test_categories_of_hj_633_table_a1(aqi, category, level, colour):
    out = category_of(pd.Series([aqi]))
    assert out.iloc[0].tolist() == [category, level, colour]


def test_missing_aqi_has_no_category():
    out = category_of(pd.Series([pd.NA, 42], dtype="Int64"))
    assert out["category"].isna().tolist() == [True, False]


def test_category_columns_agree_between_category_of_and_hourly():
    conc = pd.DataFrame({"pm25": np.arange(0, 520, 3, dtype=float)})
    out = hourly_aqi(conc, "2012")
    again = category_of(out["aqi"])
    for col in ("category", "level", "colour"):
        assert out[col].astype(str).tolist() == again[col].astype(str).tolist()
    assert set(out["colour"].astype(str)) == set(CATEGORY_COLOURS)
