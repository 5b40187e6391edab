"""The year's outlook against the plan: what the rest of the year must bring for the annual goals.

Pure arithmetic on the year-to-date figures; nothing here reads the store. Dates are local
calendar dates; "the days left" are the days after the last day counted, to 31 December
(a leap year has 366 days). Every remaining day is assumed to be valid (to have a district
daily value): the outlook is what the goal allows if the monitoring keeps running.

Good-day ratio (HJ 633 AQI ≤ 100 over valid days, goal g %, e.g. 93):
    T = valid days so far + days left (the year's valid days if every remaining day is valid)
    allowed non-good days in the year  A = floor(T × (100 − g) / 100)
    still allowed                      N = A − non-good days so far
N < 0: the goal can no longer be met. N ≥ days left: it is met whatever happens.

PM2.5 (annual mean of the daily means, goal G µg/m³; n days with a valid daily mean so far,
their mean m, L days left):
    the mean needed over the days left   x = (G × (n + L) − m × n) / L
x < 0: the goal can no longer be met (no concentration is below zero). L = 0: the year is
over and the mean so far is the year's.

Water: the sections whose year-to-date class misses their target class, and the months left
(the calendar months after the one the year to date ends in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

__all__ = [
    "GoodDayOutlook",
    "Pm25Outlook",
    "WaterOutlook",
    "days_left",
    "good_day_outlook",
    "months_left",
    "pm25_outlook",
    "water_outlook",
]


def days_left(last_counted: date) -> int:
    """Days after `last_counted` up to 31 December of its year (0 on 31 December)."""
    return (date(last_counted.year, 12, 31) - last_counted).days


def months_left(last_counted: date) -> int:
    """Whole calendar months after the month of `last_counted` (0 in December)."""
    return 12 - last_counted.month


@dataclass(frozen=True)
class GoodDayOutlook:
    """How many more non-good days the year can take and still reach the goal.

    `allowed` is N of the module's formula (negative: the goal is out of reach);
    `reachable` is N ≥ 0; `certain` is N ≥ `days_left` (met whatever happens).
    """

    goal: float  # %
    valid_days: int
    good_days: int
    days_left: int
    allowed: int

    @property
    def non_good_days(self) -> int:
        return self.valid_days - self.good_days

    @property
    def reachable(self) -> bool:
        return self.allowed >= 0

    @property
    def certain(self) -> bool:
        return self.allowed >= self.days_left

    @property
    def best_ratio(self) -> float:
        """The year's ratio (%) if every remaining day is valid and good; NaN without days."""
        total = self.valid_days + self.days_left
        return math.nan if not total else 100 * (self.good_days + self.days_left) / total

    def text(self) -> str:
        """One sentence in Chinese for the scorecard and the report."""
        goal = f"{self.goal:g}%"
        if self.days_left == 0:
            if not self.valid_days:
                return "全年无有效日，无法评价。"
            return f"全年已结束：非优良 {self.non_good_days} 天，" + (
                f"达到 ≥ {goal} 的目标。" if self.reachable else f"未达到 ≥ {goal} 的目标。"
            )
        if not self.reachable:
            return (
                f"全年优良率已无法达到 {goal}：即使余下 {self.days_left} 天全部优良，"
                f"全年最高 {self.best_ratio:.1f}%。"
            )
        if self.certain:
            return f"余下 {self.days_left} 天即使全部非优良，全年优良率仍达到 {goal}。"
        return (
            f"要使全年优良率 ≥ {goal}，余下 {self.days_left} 天中最多还可有 "
            f"{self.allowed} 天非优良（假定余下每天均为有效日）。"
        )


def good_day_outlook(
    valid_days: int, good_days: int, days_left: int, goal: float = 93.0
) -> GoodDayOutlook:
    """The good-day outlook (see the module's formula) from the year-to-date counts.

    `valid_days`: the district's valid days so far; `good_days`: those with AQI ≤ 100;
    `days_left`: days to 31 December, all assumed valid; `goal`: the annual ratio in %.
    """
    if valid_days < 0 or days_left < 0 or not 0 <= good_days <= valid_days:
        raise ValueError(
            f"good_day_outlook: need 0 ≤ good ({good_days}) ≤ valid ({valid_days}) "
            f"and days_left ({days_left}) ≥ 0"
        )
    total = valid_days + days_left
    # in whole hundredths of a per cent, so that 93 % of 365 days is not lost to rounding
    allowed_total = (total * round((100 - goal) * 100)) // 10000
    return GoodDayOutlook(
        goal, valid_days, good_days, days_left, allowed_total - (valid_days - good_days)
    )


@dataclass(frozen=True)
class Pm25Outlook:
    """The PM2.5 mean the rest of the year must keep to for the annual goal.

    `needed` is x of the module's formula (µg/m³; NaN when no day is left); `reachable` is
    x ≥ 0 (or, with no day left, the year's mean ≤ goal).
    """

    goal: float  # µg/m³
    mean: float  # mean of the valid daily means so far, NaN without any
    valid_days: int
    days_left: int
    needed: float

    @property
    def reachable(self) -> bool:
        if self.days_left == 0:
            return not math.isnan(self.mean) and self.mean <= self.goal + 1e-9
        return self.needed >= 0

    def text(self) -> str:
        """One sentence in Chinese for the scorecard and the report."""
        goal = f"{self.goal:g} µg/m³"
        if self.days_left == 0:
            if not self.valid_days:
                return "全年无有效 PM2.5 日均值，无法评价。"
            return f"全年已结束：年均 {self.mean:.1f} µg/m³，" + (
                f"达到 ≤ {goal} 的目标。" if self.reachable else f"未达到 ≤ {goal} 的目标。"
            )
        if not self.reachable:
            return f"PM2.5 年均已无法达到 {goal}：余下 {self.days_left} 天即使为 0 也不够。"
        return (
            f"要使 PM2.5 年均 ≤ {goal}，余下 {self.days_left} 天的日均值平均须不高于 "
            f"{self.needed:.1f} µg/m³（假定余下每天均为有效日）。"
        )


def pm25_outlook(mean: float, valid_days: int, days_left: int, goal: float) -> Pm25Outlook:
    """The PM2.5 outlook (see the module's formula).

    `mean`: mean of the district's valid daily PM2.5 means so far (µg/m³; NaN when
    `valid_days` is 0); `valid_days`: how many; `days_left`: days to 31 December, all assumed
    valid; `goal`: the annual mean (µg/m³).
    """
    if valid_days < 0 or days_left < 0:
        raise ValueError(f"pm25_outlook: valid_days ({valid_days}) and days_left ({days_left}) ≥ 0")
    so_far = 0.0 if valid_days == 0 else mean * valid_days
    if valid_days and math.isnan(mean):
        raise ValueError("pm25_outlook: a mean is needed when there are valid days")
    needed = math.nan if days_left == 0 else (goal * (valid_days + days_left) - so_far) / days_left
    return Pm25Outlook(goal, mean if valid_days else math.nan, valid_days, days_left, needed)


@dataclass(frozen=True)
class WaterOutlook:
    """The sections still below their target class in the year to date, and the months left."""

    below_target: tuple[str, ...]
    evaluated: int  # sections with a target class and data in the year to date
    months_left: int

    def text(self) -> str:
        """One sentence in Chinese for the scorecard and the report."""
        if not self.evaluated:
            return "年初至今没有可评价的断面（有数据且设定了目标类别）。"
        if not self.below_target:
            return f"年初至今 {self.evaluated} 个断面均达到目标类别。"
        names = "、".join(self.below_target)
        when = f"全年还剩 {self.months_left} 个月" if self.months_left else "全年已结束"
        return f"年初至今仍未达到目标类别的断面 {len(self.below_target)} 个：{names}；{when}。"


def water_outlook(below_target: list[str], evaluated: int, last_counted: date) -> WaterOutlook:
    """The water outlook: `below_target` sections (names), of `evaluated`, at `last_counted`."""
    return WaterOutlook(tuple(below_target), evaluated, months_left(last_counted))
