"""GB 3838-2002 classes, main pollutants, period means, ratios and CWQI (issue 4).

Worked examples use the Table 1 limits of standards/WATER.md; the published CNEMC classes are
checked in tests/sources/test_cnemc_water.py.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from envwatch.standards import water
from envwatch.standards.water import (
    class_v_count,
    classify,
    cwqi,
    good_ratio,
    item_classes,
    local_period,
    period_means,
    river_description,
    target_compliance,
)


def one(**values: Any) -> pd.Series:
    """Classify one sample given as keyword arguments (plus water_type and items)."""
    water_type = values.pop("water_type", "river")
    items = values.pop("items", "auto")
    return classify(pd.DataFrame([values]), water_type, items=items).iloc[0]


# --- boundaries --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value", "expected"),
    [
        ("codmn", 2.0, 1),
        ("codmn", 2.01, 2),
        ("codmn", 6.0, 3),
        ("codmn", 6.01, 4),
        ("codmn", 15.0, 5),
        ("codmn", 15.01, 6),
        ("nh3n", 0.15, 1),
        ("nh3n", 0.5, 2),
        ("nh3n", 1.0, 3),
        ("nh3n", 1.5, 4),
        ("nh3n", 2.0, 5),
        ("nh3n", 2.001, 6),
        ("tp", 0.02, 1),
        ("tp", 0.2, 3),
        ("tp", 0.4, 5),
        ("tp", 0.41, 6),
    ],
)
def test_a_value_equal_to_a_limit_is_in_that_class(code: str, value: float, expected: int) -> None:
    assert one(**{code: value})["class"] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(9.0, 1), (7.5, 1), (7.49, 2), (6.0, 2), (5.0, 3), (4.99, 4), (3.0, 4), (2.0, 5), (1.99, 6)],
)
def test_dissolved_oxygen_limits_are_lower_bounds(value: float, expected: int) -> None:
    assert one(do=value)["class"] == expected


@pytest.mark.parametrize(
    ("code", "value", "expected"),
    [
        ("cod", 15.0, 1),  # Ⅰ and Ⅱ share 15: Ⅰ
        ("cod", 15.1, 3),
        ("bod5", 3.0, 1),
        ("hg", 0.00005, 1),
        ("hg", 0.00006, 3),
        ("cu", 1.0, 2),  # Ⅱ-Ⅴ share 1.0: Ⅱ
        ("cu", 1.01, 6),
        ("f", 1.0, 1),
        ("f", 1.2, 4),
        ("las", 0.2, 1),
        ("cn", 0.2, 3),
        ("cn", 0.21, 6),
    ],
)
def test_shared_limits_give_the_better_class(code: str, value: float, expected: int) -> None:
    assert one(items="lab", **{code: value})["class"] == expected


def test_every_table_limit_is_inclusive() -> None:
    # For each item and class: a value at the limit is in the best class with that limit, a value
    # 1% above it is worse than that class.
    for code in water.ITEMS_LAB:
        if code in ("ph", "do"):
            continue
        limits = water.LIMITS.loc[code]
        for k in range(1, 6):
            limit = limits[k]
            best = min(c for c in range(1, 6) if limits[c] == limit)
            at = one(items="lab", **{code: limit})["class"]
            above = one(items="lab", **{code: limit * 1.01})["class"]
            assert at == best, (code, k)
            assert above > k, (code, k)


def test_tp_uses_the_lake_limits_for_lakes() -> None:
    frame = pd.DataFrame({"tp": [0.05, 0.05, 0.15]})
    result = classify(frame, ["river", "lake", "lake"])
    assert result["class"].tolist() == [2, 3, 5]


def test_ph_outside_six_to_nine_is_worse_than_v() -> None:
    assert one(ph=6.0)["class"] == 1
    assert one(ph=9.0)["class"] == 1
    low = one(ph=5.99, nh3n=0.1)
    assert (low["class"], low["class_label"], low["status"]) == (6, "劣Ⅴ", "重度污染")
    assert low["main_pollutants"] == "pH"  # no exceedance multiple for pH
    assert one(ph=9.01)["class"] == 6


# --- which items decide ------------------------------------------------------------------


def test_missing_and_withheld_items_are_skipped() -> None:
    frame = pd.DataFrame(
        {"ph": [np.nan, np.nan], "do": [np.nan, np.nan], "nh3n": [1.2, np.nan], "tp": [0.01, None]}
    )
    result = classify(frame, "river")
    assert result["class"].iloc[0] == 4
    assert result["deciding_items"].iloc[0] == "nh3n"
    assert result["class"].isna().iloc[1]
    assert pd.isna(result["class_label"].iloc[1])
    assert result["main_pollutants"].iloc[1] == ""


def test_tn_and_fecal_coliform_never_decide_the_class() -> None:
    row = one(items="lab", water_type="lake", tn=9.0, fcoli=500000.0, nh3n=0.1, tp=0.005)
    assert row["class"] == 1


def test_automatic_data_uses_five_items_lab_data_twenty_one() -> None:
    values = {"nh3n": 0.1, "cod": 35.0, "hg": 0.002}
    assert one(**values)["class"] == 1
    lab = one(items="lab", **values)
    assert lab["class"] == 6
    assert lab["deciding_items"] == "hg"


def test_water_type_is_required_only_where_tp_has_a_value() -> None:
    frame = pd.DataFrame({"nh3n": [0.1, 0.1], "tp": [np.nan, 0.03]})
    assert classify(frame, [None, "lake"])["class"].tolist() == [1, 3]
    with pytest.raises(ValueError, match="river' or 'lake"):
        classify(frame, ["lake", None])
    with pytest.raises(ValueError, match="river' or 'lake"):
        classify(frame, "湖库")


# --- main pollutants, labels -------------------------------------------------------------


def test_main_pollutants_worst_class_first_then_multiple() -> None:
    # nh3n 2.5 is 劣Ⅴ (multiple 1.50), tp 0.35 Ⅴ (0.75), DO 2.5 Ⅴ (no multiple), codmn 8 Ⅳ.
    row = one(nh3n=2.5, tp=0.35, do=2.5, codmn=8.0)
    assert row["main_pollutants"] == "氨氮(1.50),总磷(0.75),溶解氧"
    assert row["deciding_items"] == "nh3n"


def test_main_pollutants_rank_class_before_multiple() -> None:
    # codmn 15 is Ⅴ with multiple 1.50; nh3n 2.02 is 劣Ⅴ with multiple 1.02: nh3n first.
    row = one(codmn=15.0, nh3n=2.02)
    assert row["main_pollutants"] == "氨氮(1.02),高锰酸盐指数(1.50)"


def test_no_main_pollutants_at_class_iii_or_better() -> None:
    row = one(codmn=6.0, nh3n=1.0, tp=0.2)
    assert (row["class"], row["main_pollutants"]) == (3, "")
    assert row["deciding_items"] == "codmn,nh3n,tp"


def test_main_pollutants_at_most_three() -> None:
    row = one(items="lab", nh3n=3.0, tp=0.5, codmn=20.0, cod=60.0)
    assert row["main_pollutants"] == "高锰酸盐指数(2.33),化学需氧量(2.00),氨氮(2.00)"


@pytest.mark.parametrize(
    ("nh3n", "label", "status", "colour"),
    [
        (0.1, "Ⅰ", "优", "blue"),
        (0.3, "Ⅱ", "优", "blue"),
        (0.8, "Ⅲ", "良好", "green"),
        (1.2, "Ⅳ", "轻度污染", "yellow"),
        (1.8, "Ⅴ", "中度污染", "orange"),
        (2.5, "劣Ⅴ", "重度污染", "red"),
    ],
)
def test_labels_status_and_colours(nh3n: float, label: str, status: str, colour: str) -> None:
    row = one(nh3n=nh3n)
    assert (row["class_label"], row["status"], row["colour"]) == (label, status, colour)


def test_item_classes() -> None:
    frame = pd.DataFrame({"do": [4.0], "nh3n": [0.4], "tp": [np.nan]})
    got = item_classes(frame, "river").iloc[0]
    assert got["do"] == 4 and got["nh3n"] == 2
    assert pd.isna(got["tp"]) and pd.isna(got["ph"])


def test_result_keeps_the_index() -> None:
    frame = pd.DataFrame({"nh3n": [0.1, 2.5]}, index=["a", "b"])
    assert classify(frame, "river")["class"].to_dict() == {"a": 1, "b": 6}


# --- periods -----------------------------------------------------------------------------


def test_period_means_classify_the_mean_never_the_classes() -> None:
    samples = pd.DataFrame(
        {
            "site_id": ["s1"] * 4,
            "period_end": pd.to_datetime(
                [
                    "2026-08-01T02:00Z",
                    "2026-08-10T02:00Z",
                    "2026-08-20T02:00Z",
                    "2026-08-31T17:00Z",  # 2026-09-01 01:00 local: September
                ]
            ),
            "nh3n": [0.1, 0.1, 2.5, 9.0],
            "tp": [0.05, np.nan, 0.05, 0.05],  # a withheld value does not count
            "water_type": "river",
        }
    )
    samples["period"] = local_period(samples["period_end"], "M")
    means = period_means(samples)
    assert [str(p) for p in means["period"]] == ["2026-08", "2026-09"]
    august = means.iloc[0]
    assert august["nh3n"] == pytest.approx(0.9)
    assert august["tp"] == pytest.approx(0.05)
    assert august["n_samples"] == 3
    # The worst sample is 劣Ⅴ, but the month is Ⅲ: the mean is classified.
    assert classify(means, means["water_type"])["class"].tolist() == [3, 6]


def test_period_means_needs_its_grouping_columns() -> None:
    with pytest.raises(ValueError, match="period"):
        period_means(pd.DataFrame({"site_id": ["a"], "nh3n": [1.0]}))


# --- ratios and descriptions -------------------------------------------------------------


def test_good_ratio_leaves_out_sections_without_data() -> None:
    classes = pd.Series([1, 3, 4, pd.NA, 6], index=list("abcde"), dtype="Int64")
    share = good_ratio(classes)
    assert (share.count, share.evaluated, share.left_out) == (2, 4, ("d",))
    assert share.percent == pytest.approx(50.0)
    assert math.isnan(good_ratio(pd.Series([pd.NA], dtype="Int64")).percent)


def test_class_v_count_counts_v_and_worse() -> None:
    assert class_v_count(pd.Series([5, 6, 4, None])) == 2


def test_target_compliance() -> None:
    classes = pd.Series([2, 3, 4, 3], index=list("abcd"))
    targets = pd.Series([3, 3, 3, None], index=list("abcd"))
    share = target_compliance(classes, targets)
    assert (share.count, share.evaluated, share.left_out) == (2, 3, ("d",))
    assert share.percent == pytest.approx(200 / 3)
    assert target_compliance(classes, 4).percent == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        ([2] * 9 + [4], "优"),
        ([3] * 8 + [4, 6], "良好"),
        ([3] * 7 + [4, 5, 6], "轻度污染"),  # Ⅰ-Ⅲ 70%, 劣Ⅴ 10%
        ([3] * 5 + [4, 4, 6, 6], "中度污染"),  # Ⅰ-Ⅲ 5/9, 劣Ⅴ 22%
        ([1] * 3 + [6, 6], "重度污染"),  # Ⅰ-Ⅲ 60%, 劣Ⅴ 40%
        ([1, 2, 3, 6], None),  # fewer than five: classify the mean concentrations instead
    ],
)
def test_river_description(classes: list[int], expected: str | None) -> None:
    assert river_description(pd.Series(classes)) == expected


def test_classes_must_be_one_to_six() -> None:
    with pytest.raises(ValueError, match="1-6"):
        good_ratio(pd.Series([0, 3]))


def test_cwqi_worked_example() -> None:
    means = pd.DataFrame(
        {
            "ph": [8.0, 6.5],
            "do": [5.0, 10.0],
            "codmn": [3.0, 3.0],
            "nh3n": [0.5, 0.5],
            "tp": [0.1, 0.1],
            "tn": [5.0, 5.0],
            "fcoli": [1e5, 1e5],
        }
    )
    # ph (8-7)/2=0.5, do 5/5=1, codmn 3/6=0.5, nh3n 0.5/1=0.5, tp 0.1/0.2=0.5 (river)
    # second row: ph 7-6.5=0.5, do 0.5, codmn 0.5, nh3n 0.5, tp 0.1/0.05=2 (lake)
    got = cwqi(means, ["river", "lake"])
    assert got.tolist() == pytest.approx([3.0, 4.0])
    assert math.isnan(cwqi(pd.DataFrame({"tn": [1.0]}), "river").iloc[0])
