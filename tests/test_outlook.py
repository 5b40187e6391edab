"""The year's outlook (issue 17): the arithmetic at its edges, against worked examples.

Worked example (the staff guide's): 300 valid days so far, 285 good (15 non-good), 65 days
left, goal 93 %: the year has at most 365 valid days, of which at most ⌊365 × 7 / 100⌋ = 25 may
be non-good, so 10 more non-good days are allowed.
"""

from __future__ import annotations

import math
from datetime import date

import pytest

from envwatch import outlook


def test_worked_example_allows_ten_more_non_good_days() -> None:
    o = outlook.good_day_outlook(300, 285, 65, 93.0)
    assert o.allowed == 10 and o.reachable and not o.certain
    assert "最多还可有 10 天非优良" in o.text()
    # one more non-good day than allowed misses the goal: 339 good of 365 = 92.9 %
    assert (365 - (15 + 11)) / 365 < 0.93 <= (365 - (15 + 10)) / 365


def test_no_valid_days_yet_allows_seven_percent_of_the_year() -> None:
    o = outlook.good_day_outlook(0, 0, 365, 93.0)
    assert o.allowed == 25  # ⌊365 × 0.07⌋ = ⌊25.55⌋
    assert o.reachable and not o.certain
    p = outlook.pm25_outlook(math.nan, 0, 365, 24.0)
    assert p.needed == pytest.approx(24.0) and p.reachable
    assert "不高于 24.0 µg/m³" in p.text()


def test_target_already_missed() -> None:
    o = outlook.good_day_outlook(330, 290, 35, 93.0)  # 40 non-good > 25 allowed
    assert o.allowed == -15 and not o.reachable
    assert "已无法达到 93%" in o.text() and "全年最高 89.0%" in o.text()
    # PM2.5: 330 days at 40 µg/m³ need (24 × 365 − 40 × 330) / 35 < 0
    p = outlook.pm25_outlook(40.0, 330, 35, 24.0)
    assert p.needed == pytest.approx((24 * 365 - 40 * 330) / 35) and p.needed < 0
    assert not p.reachable and "已无法达到" in p.text()


def test_target_met_whatever_happens() -> None:
    o = outlook.good_day_outlook(360, 360, 5, 93.0)  # 25 non-good allowed, 5 days left
    assert o.certain and o.allowed == 25
    assert "即使全部非优良" in o.text()


def test_last_day_of_the_year_has_no_days_left() -> None:
    assert outlook.days_left(date(2026, 12, 31)) == 0
    assert outlook.months_left(date(2026, 12, 31)) == 0
    met = outlook.good_day_outlook(365, 340, 0, 93.0)
    assert met.reachable and met.certain and "全年已结束" in met.text() and "达到" in met.text()
    missed = outlook.good_day_outlook(365, 339, 0, 93.0)
    assert not missed.reachable and "未达到" in missed.text()
    p = outlook.pm25_outlook(23.9, 365, 0, 24.0)
    assert math.isnan(p.needed) and p.reachable and "年均 23.9" in p.text()
    assert not outlook.pm25_outlook(24.2, 365, 0, 24.0).reachable


def test_leap_year_has_one_more_day() -> None:
    assert outlook.days_left(date(2028, 2, 28)) == 307  # 29 February 2028 to 31 December
    assert outlook.days_left(date(2026, 2, 28)) == 306
    assert outlook.days_left(date(2028, 1, 1)) == 365
    # the whole leap year: ⌊366 × 0.07⌋ = 25 non-good days
    assert outlook.good_day_outlook(0, 0, 366, 93.0).allowed == 25


def test_goal_with_decimals_is_not_lost_to_rounding() -> None:
    # 92.5 %: ⌊400 × 7.5 / 100⌋ = 30 exactly
    assert outlook.good_day_outlook(0, 0, 400, 92.5).allowed == 30


def test_water_outlook_names_the_sections_and_the_months_left() -> None:
    w = outlook.water_outlook(["甬江招宝山"], 2, date(2026, 11, 30))
    assert w.months_left == 1
    assert w.text() == "年初至今仍未达到目标类别的断面 1 个：甬江招宝山；全年还剩 1 个月。"
    assert "均达到目标类别" in outlook.water_outlook([], 2, date(2026, 11, 30)).text()
    assert "没有可评价的断面" in outlook.water_outlook([], 0, date(2026, 11, 30)).text()


def test_impossible_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        outlook.good_day_outlook(10, 11, 5)
    with pytest.raises(ValueError):
        outlook.pm25_outlook(math.nan, 3, 5, 24.0)
