"""What the report of a week, a month (月报) or a year (年报) shows, gathered from the store
and the scorecard.

Everything here is plain data (DataFrames and small dataclasses); `maps`, `charts` and the
template turn it into the page. Dates are local calendar dates of the config's time zone; a
week is an ISO week, Monday to Sunday; the current month or year ends today. District figures
and the city's ranking come from one place, `area_summary` (the official area values of
`envwatch.stats`, through `air.district_summary`); the year's outlook from `envwatch.outlook`. Missing values stay missing (NaN / <NA>): the page
writes 无数据 for them, never zero.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from envwatch import air, outfalls, outlook, scoring, water
from envwatch.config import LoadedConfig, Region
from envwatch.errors import UsageError
from envwatch.sources import zone_sheet
from envwatch.standards import air_stats
from envwatch.standards import aqi as hj633
from envwatch.standards import water as gb3838
from envwatch.store import Store

WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")

# Below these counts a daily value is not valid (HJ 663); used to say why a day is invalid.
_DAILY_COUNTS = {
    "n_pm25": ("PM2.5", air_stats.MIN_HOURS_24H, "小时"),
    "n_pm10": ("PM10", air_stats.MIN_HOURS_24H, "小时"),
    "n_so2": ("SO2", air_stats.MIN_HOURS_24H, "小时"),
    "n_no2": ("NO2", air_stats.MIN_HOURS_24H, "小时"),
    "n_co": ("CO", air_stats.MIN_HOURS_24H, "小时"),
    "n_o3_8h": ("O3-8h", air_stats.MIN_O3_8H_VALUES, "个8小时值"),
}

WATER_KIND_LABELS = {"auto": "自动站", "lab": "手工监测"}

ZONE_TYPE_LABELS = {
    "industrial": "工业园区",
    "residential": "生活小区",
    "town": "镇街",
    "other": "其他",
}
ZONE_STATE_LABELS = {
    "reinspected": "已复核",
    "accepted": "已验收",
    "building": "创建中",
    "overdue": "逾期未验收",
}
"""A zone's state at the week's end; ``overdue``: due before the week's end, not accepted."""

OUTFALL_TYPE_LABELS = {"rain": "雨水排口", "sewage": "污水排口", "combined": "雨污合流排口"}
OUTFALL_STATE_LABELS = {
    "violation": "本周有违规",
    "clean": "本周巡查无违规",
    "not_inspected": "本周未巡查",
}
CELL_STATE_LABELS = {"built": "已建成", "building": "创建中"}
NO_ZONE = "（未分区）"
"""The zone of an outfall whose sheet names none (as `envwatch.outfalls.by_zone` writes it)."""


@dataclass(frozen=True)
class Day:
    """One station's (or the district's) day: daily AQI and the two pollutants charted."""

    date: date
    aqi: float  # NaN without a value
    category: str | None
    colour: str | None
    valid: bool
    pm25: float
    o3_8h: float
    primary: str
    problem: str  # why the day is not valid ('' when valid, 无数据 when there is no row)


@dataclass
class Station:
    """An air station over the week."""

    site_id: str
    name: str
    district: str | None
    lon: float | None
    lat: float | None
    background: bool
    days: list[Day]
    mean_aqi: float  # mean of the valid daily AQIs, NaN when none
    category: str | None
    colour: str | None

    @property
    def valid_days(self) -> int:
        return sum(d.valid for d in self.days)


ZONE_COLUMNS = (
    *zone_sheet.RECORD_COLUMNS,
    "type_label",
    "state",
    "state_label",
    "overdue",
    "this_week",
)
OUTFALL_COLUMNS = (
    "site_id",
    "name",
    "zone",
    "outfall_type",
    "type_label",
    "receiving_water",
    "lon",
    "lat",
    "n_week",
    "n_violations",
    "state",
    "last_inspected",
)
INSPECTION_COLUMNS = (
    "site_id",
    "outfall_name",
    "zone",
    "outfall_type",
    "receiving_water",
    "time_local",
    "weather",
    "discharging",
    "flow",
    "nh3n",
    "cod",
    "tp",
    "violation",
)
ZONE_COUNT_COLUMNS = (
    "zone",
    "outfalls",
    "week_inspections",
    "week_violations",
    "week_not_inspected",
    "ytd_inspections",
    "ytd_violations",
    "ytd_not_inspected",
)
CELL_COLUMNS = (
    "cell_id",
    "name",
    "cell_type",
    "address",
    "status",
    "built_on",
    "lon",
    "lat",
    "state",
    "state_label",
    "built_this_year",
    "built_this_week",
)
INDICATOR_COLUMNS = (
    "indicator_id",
    "name",
    "unit",
    "value",
    "period",
    "provisional",
    "goal",
    "met",
)
CELL_TYPE_COLUMNS = ("cell_type", "built_ytd", "task", "done", "built_before", "building")


def _frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


@dataclass
class ZeroDischarge:
    """污水零直排区 for the week: zones, outfalls, the week's inspections and counts per zone.

    `zones`: one row per zone with its `state` at the week's end (reinspected, accepted,
    building, overdue: due before the week's end and not accepted), `overdue` and `this_week`
    (``本周通过验收`` / ``本周复核`` or ''). `outfalls`: registered outfalls with the week's
    `n_week` inspections, `n_violations` and `state` (violation, clean, not_inspected), and
    `last_inspected` (local time of the newest inspection up to the week's end, or None).
    `inspections`: rows of the ``outfall_inspections`` view in the week. `zone_counts`: per
    zone, for the week and the year to date, inspections, violations and the names of the
    outfalls not inspected; <NA> where the store has no inspection at all in that span (not
    zero). `newest_inspection`: the newest inspection in the store (local time) or None.
    """

    zones: pd.DataFrame
    outfalls: pd.DataFrame
    inspections: pd.DataFrame
    zone_counts: pd.DataFrame
    newest_inspection: str | None
    limits: dict[str, dict[str, float]] = field(default_factory=dict)  # mg/L by outfall type

    @classmethod
    def empty(cls) -> ZeroDischarge:
        return cls(
            _frame(ZONE_COLUMNS),
            _frame(OUTFALL_COLUMNS),
            _frame(INSPECTION_COLUMNS),
            _frame(ZONE_COUNT_COLUMNS),
            None,
        )

    @property
    def has_data(self) -> bool:
        return not self.zones.empty or not self.outfalls.empty

    @property
    def violations(self) -> pd.DataFrame:
        """The week's inspections that found a violation, in time order."""
        frame = self.inspections
        if frame.empty:
            return frame
        return frame.loc[frame["violation"].fillna("").astype(str) != ""]


@dataclass
class ZeroWaste:
    """无废城市 for the week: indicators, cells and the year's cells by type against the task.

    `indicators`: per configured indicator (and any other in the store), the latest value
    whose period had begun by the week's end, its `period`, `provisional`, the `goal` text
    (``未设目标`` without one) and `met` (pandas boolean, <NA> without a goal or a value).
    `cells`: one row per cell with its `state` at the week's end (built, building),
    `built_this_year` and `built_this_week`. `by_type`: per cell type, cells built this year
    up to the week's end (`built_ytd`), the year's `task` (<NA> without one), `done`,
    `built_before` (earlier years) and `building`. `tasks`: the year's task per type, or
    None when stations.yaml sets none for `year`. `types`: the kinds of cells, those of
    stations.yaml first (their order gives their map colours).
    """

    indicators: pd.DataFrame
    cells: pd.DataFrame
    by_type: pd.DataFrame
    year: int
    tasks: dict[str, int] | None
    has_indicator_data: bool
    types: list[str] = field(default_factory=list)  # kinds of cells: stations.yaml's, then others
    newest_period: str | None = None  # the newest indicator period in the store (2019年1月)

    @classmethod
    def empty(cls) -> ZeroWaste:
        return cls(
            _frame(INDICATOR_COLUMNS),
            _frame(CELL_COLUMNS),
            _frame(CELL_TYPE_COLUMNS),
            0,
            None,
            False,
        )

    @property
    def has_cells(self) -> bool:
        return not self.cells.empty


PERIOD_WORDS = {"week": "本周", "month": "本月", "year": "本年"}
"""How the page says "this period" for a week, a month and a year."""
PREVIOUS_WORDS = {"week": "上周", "month": "上月", "year": "上年同期"}


@dataclass
class ReportData:
    """Everything the report of a week, a month or a year shows.

    `period` is the report's period (kind week, month or year; the current month or year ends
    today). The scorecard's ``week_*`` columns are that period's, whatever its kind.
    """

    region: Region
    period: scoring.Period
    ytd: scoring.Period
    generated_at: datetime
    week_complete: bool
    scorecard: pd.DataFrame
    districts: gpd.GeoDataFrame  # district polygons with the week's good-day ratio and ranks
    district_days: list[Day]  # the region district's days (HJ 663 district values)
    stations: list[Station]
    air_days_with_data: list[date]  # days on which at least one station has a daily value
    invalid_days: pd.DataFrame  # station, district, date, problem
    water: pd.DataFrame  # sections with samples in the week (period classes)
    water_other: pd.DataFrame  # sections outside the region's city (or of unknown place)
    freshness: pd.DataFrame
    air_newest: str | None
    water_newest: str | None
    good_day_goal: float
    limits: dict[str, float]  # daily limits (µg/m³) in force at the week's end: pm25, o3_8h
    zero_discharge: ZeroDischarge = field(default_factory=lambda: ZeroDischarge.empty())
    zero_waste: ZeroWaste = field(default_factory=lambda: ZeroWaste.empty())
    notes: list[str] = field(default_factory=list)
    ranking: pd.DataFrame = field(default_factory=pd.DataFrame)  # the city's districts, ranked
    outlook: YearOutlook | None = None  # the year's outlook (month and year reports)
    water_months: pd.DataFrame = field(default_factory=pd.DataFrame)  # year: class per month
    calendar_days: list[Day] = field(default_factory=list)  # month: every day of the month

    @property
    def week(self) -> scoring.Period:
        """The report's period (the name the weekly report's template and maps use)."""
        return self.period

    @property
    def kind(self) -> str:
        return self.period.kind

    @property
    def word(self) -> str:
        """本周, 本月 or 本年."""
        return PERIOD_WORDS[self.period.kind]

    @property
    def previous_word(self) -> str:
        """上周, 上月 or 上年同期."""
        return PREVIOUS_WORDS[self.period.kind]

    @property
    def title(self) -> str:
        """The period in Chinese: 2026年第47周, 2026年11月, 2026年."""
        return period_title(self.period)

    problems: Any = None  # envwatch.alerts.problems.ProblemList: the 问题清单 (issue 18)

    @property
    def days(self) -> list[date]:
        return [self.period.start + timedelta(days=i) for i in range(self.period.days)]

    @property
    def has_water(self) -> bool:
        return not self.water.empty or not self.water_other.empty


def week_period(week: str, today: date) -> scoring.Period:
    """The ISO week `week` (``2026-W47``) as a Period; anything else is a usage error."""
    if not re.fullmatch(r"\s*\d{4}-W\d{1,2}\s*", week):
        raise UsageError(f"--week '{week}' is not an ISO week: write e.g. 2026-W47")
    return scoring.parse_period(week, today)


def _calendar_period(
    option: str, text: str, pattern: str, example: str, today: date
) -> scoring.Period:
    """`text` as the Period of `--option` (a month or a year; the current one ends today); a
    usage error when it is not written like `example` or has not begun."""
    if not re.fullmatch(rf"\s*{pattern}\s*", text):
        raise UsageError(f"--{option} '{text}' is not a {option}: write e.g. {example}")
    period = scoring.parse_period(text, today)
    if period.start > today:
        raise UsageError(
            f"--{option} {period.label} has not begun (today is {today}); choose a past {option}"
        )
    return period


def month_period(month: str, today: date) -> scoring.Period:
    """The month `month` (``2026-11``) as a Period (the current month ends today)."""
    return _calendar_period("month", month, r"\d{4}-\d{1,2}", "2026-11", today)


def year_period(year: str, today: date) -> scoring.Period:
    """The year `year` (``2026``) as a Period (the current year ends today)."""
    return _calendar_period("year", year, r"\d{4}", "2026", today)


def report_period(kind: str, label: str, today: date) -> scoring.Period:
    """The period of a report: `kind` week, month or year and its label (2026-W47, 2026-11,
    2026); a malformed label is a usage error naming the option and an example."""
    parse = {"week": week_period, "month": month_period, "year": year_period}
    if kind not in parse:
        raise UsageError(f"report period '{kind}' is not week, month or year")
    return parse[kind](label, today)


def last_complete(kind: str, today: date) -> str:
    """The label of the last complete week, month or year before `today`."""
    if kind == "week":
        return scoring.last_complete_week(today)
    if kind == "month":
        last = today.replace(day=1) - timedelta(days=1)
        return f"{last:%Y-%m}"
    return str(today.year - 1)


def period_title(period: scoring.Period) -> str:
    """The period in Chinese: ``2026年第47周``, ``2026年11月``, ``2026年``."""
    if period.kind == "week":
        year, week, _ = period.start.isocalendar()
        return f"{year}年第{week}周"
    if period.kind == "month":
        return f"{period.start.year}年{period.start.month}月"
    return f"{period.start.year}年"


def same_period_last_year(period: scoring.Period) -> scoring.Period:
    """The same span one year earlier (同比): 2026-11 → 2025-11; 29 February → 28."""

    def back(d: date) -> date:
        try:
            return d.replace(year=d.year - 1)
        except ValueError:  # 29 February
            return d.replace(year=d.year - 1, day=28)

    start, end = back(period.start), back(period.end)
    label = {"month": f"{start:%Y-%m}", "year": str(start.year)}.get(period.kind)
    if label is None:
        year, week, _ = start.isocalendar()
        label = f"{year}-W{week:02d}"
    return scoring.Period(label, period.kind, start, end)


def year_to_date(week: scoring.Period) -> scoring.Period:
    """1 January of the year the week ends in, to the week's last day."""
    return scoring.Period(str(week.end.year), "year", date(week.end.year, 1, 1), week.end)


def _better(op: str, trend: str) -> bool | None:
    """Whether a trend arrow is an improvement for a goal with comparison `op`."""
    if trend not in ("↑", "↓"):
        return None
    if op in (">=", ">"):
        return trend == "↑"
    if op in ("<=", "<"):
        return trend == "↓"
    return None


def scorecard(
    loaded: LoadedConfig,
    store: Store,
    week: str | scoring.Period,
    *,
    today: date | None = None,
    compare: bool = False,
) -> pd.DataFrame:
    """The plan's targets for the period (a week, or a month or year given as a Period) and
    for the year to date, one row per target.

    Columns: target_id, label, goal, week_text, week_met (the period's, whatever its kind),
    ytd_text, ytd_met (pandas boolean, <NA> without data), trend (the period against the one
    before: ↑ ↓ → or ''), trend_better (True when the trend is an improvement for the goal,
    <NA> when neither), detail (the year to date's, with the year's outlook), week_detail.
    With `compare`, also prev_text / prev_trend / prev_better (环比) and yoy_text /
    yoy_trend / yoy_better (同比), see `_comparisons`.
    """
    today = today or datetime.now(loaded.tz).date()
    period = week if isinstance(week, scoring.Period) else week_period(week, today)
    this_week = scoring.score(loaded, store, period, today=today)
    ytd = (
        this_week
        if period == year_to_date(period)  # a year's report: the period is the year to date
        else scoring.score(loaded, store, year_to_date(period), today=today, previous=False)
    )
    ops = {t.id: t.op for t in loaded.config.targets}
    merged = this_week.merge(ytd, on="target_id", suffixes=("_w", "_y"), how="left")
    out = pd.DataFrame(
        {
            "target_id": merged["target_id"],
            "label": merged["label_w"],
            "goal": merged["goal_w"],
            "week_text": merged["value_text_w"],
            "week_met": merged["met_w"].astype("boolean"),
            "ytd_text": merged["value_text_y"],
            "ytd_met": merged["met_y"].astype("boolean"),
            "trend": merged["trend_w"].fillna(""),
            "detail": merged["detail_y"].fillna(""),
            "week_detail": merged["detail_w"].fillna(""),
        }
    )
    out["trend_better"] = pd.array(
        [_better(ops.get(t, ""), tr) for t, tr in zip(out["target_id"], out["trend"], strict=True)],
        dtype="boolean",
    )
    if compare:
        _comparisons(loaded, store, period, this_week, out, ops, today)
    return out


def _comparisons(
    loaded: LoadedConfig,
    store: Store,
    period: scoring.Period,
    scored: pd.DataFrame,
    out: pd.DataFrame,
    ops: Mapping[str, str],
    today: date,
) -> None:
    """Add 环比 (``prev_*``: the period before) and 同比 (``yoy_*``: the same span a year
    before) to the scorecard `out`: the value's text (无数据 where the store lacks it), the
    arrow from that value to this period's and whether the arrow is an improvement. For a year
    the two are the same span (the year before, to the same day)."""
    before = scoring.score(loaded, store, period.previous(), today=today, previous=False)
    spans = {"prev": before}
    if period.kind != "year":
        spans["yoy"] = scoring.score(
            loaded, store, same_period_last_year(period), today=today, previous=False
        )
    else:
        spans["yoy"] = before
    now = scored.set_index("target_id")["value"]
    for key, frame in spans.items():
        other = frame.set_index("target_id")
        texts = other["value_text"].reindex(out["target_id"]).fillna(scoring.NO_DATA)
        trends = [
            scoring.trend(_value(now.get(t)), _value(other["value"].get(t)))
            for t in out["target_id"]
        ]
        out[f"{key}_text"] = texts.to_numpy()
        out[f"{key}_trend"] = trends
        out[f"{key}_better"] = pd.array(
            [_better(ops.get(t, ""), tr) for t, tr in zip(out["target_id"], trends, strict=True)],
            dtype="boolean",
        )


def _value(v: Any) -> float | None:
    """A scored value, None when missing."""
    return None if missing_value(v) else float(v)


def _float(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def _category(aqi_value: float) -> tuple[str | None, str | None]:
    if math.isnan(aqi_value):
        return None, None
    row = hj633.category_of(pd.Series([round(aqi_value)], dtype="Float64")).iloc[0]
    return str(row["category"]), str(row["colour"])


def _problem(row: pd.Series) -> str:
    """Why a station day is not valid, from its counts (HJ 663), in a few words."""
    short: dict[str, int] = {}
    for col, (name, need, _unit) in _DAILY_COUNTS.items():
        raw: Any = row.get(col)
        n = 0 if missing_value(raw) else int(raw)
        if n < need:
            short[name] = n
    parts = []
    hourly = {k: v for k, v in short.items() if k != "O3-8h"}
    if hourly and len(hourly) == 5 and len(set(hourly.values())) == 1:
        n = next(iter(hourly.values()))
        parts.append(f"仅 {n} 小时有数据（需 ≥ {air_stats.MIN_HOURS_24H}）")
    else:
        parts += [f"{k} 仅 {v} 小时" for k, v in hourly.items()]
    if "O3-8h" in short:
        parts.append(f"O3 8小时值仅 {short['O3-8h']} 个（需 ≥ {air_stats.MIN_O3_8H_VALUES}）")
    return "；".join(parts) if parts else "日AQI所需数据不全"


def missing_value(v: Any) -> bool:
    """True for None, NaN and <NA>."""
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _day_from_row(d: date, row: pd.Series | None, *, district: bool = False) -> Day:
    if row is None:
        return Day(d, math.nan, None, None, False, math.nan, math.nan, "", "无数据")
    valid = bool(row["valid"])
    value = _float(row["aqi"])
    category, colour = _category(value) if valid else (None, None)
    if district:
        problem = "" if valid else "有效站点不足（HJ 663）"
    else:
        problem = "" if valid else _problem(row)
    primary = row.get("primary_pollutant")
    return Day(
        date=d,
        aqi=value if valid else math.nan,
        category=category,
        colour=colour,
        valid=valid,
        pm25=_float(row["pm25"]),
        o3_8h=_float(row["o3_8h_max"]),
        primary="" if missing_value(primary) else str(primary),
        problem=problem,
    )


def _region_districts(loaded: LoadedConfig) -> gpd.GeoDataFrame:
    from envwatch.geo import district_boundaries

    region = loaded.config.region
    return district_boundaries(region.province, region.city)


def _city_sites(store: Store, kind: str, region: Region, districts: list[str]) -> pd.DataFrame:
    sites = store.sites(kind)
    in_city = (sites["city"] == region.city) | sites["district"].isin(districts)
    return sites.assign(in_city=in_city.fillna(False).astype(bool))


def _stations(
    store: Store, region: Region, districts: list[str], days: list[date]
) -> tuple[list[Station], list[date]]:
    sites = _city_sites(store, "air", region, districts)
    sites = sites.loc[sites["in_city"]]
    daily = air.daily(store, sites["site_id"].tolist(), days[0], days[-1])
    by_key = {(r["site_id"], r["date"].date()): r for _, r in daily.iterrows()}
    with_data = sorted({d for (_, d), r in by_key.items() if not missing_value(r["aqi"])})
    out = []
    for s in sites.to_dict("records"):
        station_days = [_day_from_row(d, by_key.get((s["site_id"], d))) for d in days]
        valid = [d.aqi for d in station_days if d.valid and not math.isnan(d.aqi)]
        mean = sum(valid) / len(valid) if valid else math.nan
        category, colour = _category(mean)
        out.append(
            Station(
                site_id=str(s["site_id"]),
                name=str(s["name"]),
                district=None if missing_value(s["district"]) else str(s["district"]),
                lon=None if missing_value(s["lon"]) else float(s["lon"]),
                lat=None if missing_value(s["lat"]) else float(s["lat"]),
                background=bool(s["background"]),
                days=station_days,
                mean_aqi=mean,
                category=category,
                colour=colour,
            )
        )
    return out, with_data


def _invalid_days(stations: list[Station], days_with_data: list[date]) -> pd.DataFrame:
    """Station days that are not valid, on days when some station has data."""
    rows = []
    for s in stations:
        for d in s.days:
            if d.date in days_with_data and not d.valid:
                rows.append(
                    {
                        "site_id": s.site_id,
                        "name": s.name,
                        "district": s.district,
                        "background": s.background,
                        "date": d.date,
                        "problem": d.problem,
                    }
                )
    return pd.DataFrame(
        rows, columns=["site_id", "name", "district", "background", "date", "problem"]
    )


def _water(
    store: Store, region: Region, districts: list[str], period: scoring.Period, tz: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    classes = water.period_classes(store, period.start, period.end, tz=tz)
    if classes.empty:
        empty = pd.DataFrame(columns=["site_id", "site_name", "class"])
        return empty, empty
    sites = _city_sites(store, "water", region, districts).set_index("site_id")
    out = classes.copy()
    for col in ("lon", "lat", "city", "in_city"):
        out[col] = out["site_id"].map(sites[col])
    out["in_city"] = out["in_city"].fillna(False).astype(bool)
    out["district"] = out["site_id"].map(sites["district"])
    out["in_district"] = (out["district"] == region.district).fillna(False).astype(bool)
    cls = pd.to_numeric(out["class"], errors="coerce")
    out["class_num"] = cls
    out["colour"] = cls.map(lambda c: None if pd.isna(c) else gb3838.CLASS_STATUS[int(c)][1])
    out["kind_label"] = out["kind"].map(WATER_KIND_LABELS).fillna(out["kind"])
    out = out.sort_values(
        ["in_district", "class_num", "site_name"],
        ascending=[False, False, True],
        na_position="last",
    )
    return (
        out.loc[out["in_city"]].reset_index(drop=True),
        out.loc[~out["in_city"]].reset_index(drop=True),
    )


def _newest(store: Store, table: str, tz: Any) -> str | None:
    # the newest hour of each site by key (a plain max(period_end) scans the whole table:
    # 1.5 s on a national year)
    value = store.conn.execute(
        f"SELECT max((SELECT max(t.period_end) FROM {table} t WHERE t.site_id = s.site_id)) "
        "FROM sites s"
    ).fetchone()[0]
    if value is None:
        return None
    return f"{datetime.fromtimestamp(int(value), tz):%Y-%m-%d %H:%M}"


def _freshness(loaded: LoadedConfig, store_path: Path) -> pd.DataFrame:
    from envwatch.status import source_status

    status = source_status(loaded, store_path)
    if status.empty:
        return pd.DataFrame(columns=["source", "newest_data", "last_run", "status"])
    kinds = {s.name: s.kind for s in loaded.config.sources}
    status["kind"] = status["source"].map(kinds)
    return status


def _district_polygons(
    bounds: gpd.GeoDataFrame, summary: pd.DataFrame, region: Region
) -> gpd.GeoDataFrame:
    # About 150 m: plenty for a city map, and a tenth of the size of the full outlines.
    simplified = bounds.assign(geometry=bounds.geometry.simplify(0.0015, preserve_topology=True))
    # the figures, and the stations behind each district's figure
    cols = ["district", *air_stats.RANK_FIGURES, "no_data", "station_names"]
    cols = [c for c in cols if c in summary.columns]
    merged = simplified.merge(summary[cols], on="district", how="left")
    merged["no_data"] = merged["no_data"].fillna(True).astype(bool)
    merged["is_region"] = merged["district"] == region.district
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=bounds.crs)


def _day(value: Any) -> str | None:
    """A stored date (or date-time) as ``YYYY-MM-DD``; None when missing."""
    if missing_value(value) or str(value).strip() == "":
        return None
    return str(value)[:10]


def zone_state(row: Any, start: date, end: date, word: str = "本周") -> tuple[str, str]:
    """(state at the week's end, what changed in the week) of a zone row.

    The dates decide: re-inspected or accepted on or before `end`; otherwise the zone was
    still being built then, and overdue when its due date is before `end`. A zone marked
    accepted without dates keeps its status.
    """
    first, last = start.isoformat(), end.isoformat()
    status = "building" if missing_value(row["status"]) else str(row["status"])
    rein, acc, due = _day(row["reinspected_on"]), _day(row["accepted_on"]), _day(row["due_on"])
    state = "building"
    if status != "building":
        if rein and rein <= last:
            state = "reinspected"
        elif acc and acc <= last:
            state = "accepted"
        elif not rein and not acc:
            state = status if status in ZONE_STATE_LABELS else "building"
    if state == "building" and due and due < last:
        state = "overdue"
    changed = []
    if acc and first <= acc <= last:
        changed.append(f"{word}通过验收")
    if rein and first <= rein <= last:
        changed.append(f"{word}复核")
    return state, "、".join(changed)


def _zones(store: Store, week: scoring.Period) -> pd.DataFrame:
    """The zones with their state at the week's end: overdue first, then being built (by due
    date), accepted, re-inspected."""
    zones = pd.read_sql_query(
        "SELECT zone_id, name, zone_type, status, town, started_on, due_on, accepted_on, "
        "reinspected_on, lon, lat, geometry FROM zero_discharge_zones",
        store.conn,
    )
    if zones.empty:
        return _frame(ZONE_COLUMNS)
    word = PERIOD_WORDS[week.kind]
    states = [zone_state(r, week.start, week.end, word) for _, r in zones.iterrows()]
    zones["state"] = [s for s, _ in states]
    zones["this_week"] = [c for _, c in states]
    zones["state_label"] = zones["state"].map(ZONE_STATE_LABELS)
    zones["overdue"] = zones["state"] == "overdue"
    zones["type_label"] = zones["zone_type"].map(ZONE_TYPE_LABELS).fillna("其他")
    order = {"overdue": 0, "building": 1, "accepted": 2, "reinspected": 3}
    zones["_order"] = zones["state"].map(order)
    zones = zones.sort_values(["_order", "due_on", "name"], na_position="last")
    return zones.loc[:, list(ZONE_COLUMNS)].reset_index(drop=True)


def _zone_counts(
    store: Store, week: scoring.Period, ytd: scoring.Period, zones: pd.DataFrame
) -> pd.DataFrame:
    """Per zone: outfalls, and inspections, violations and outfalls not inspected in the week
    and the year to date (<NA> for a span without any inspection in the store)."""
    names = dict(zip(zones["zone_id"].astype(str), zones["name"].astype(str), strict=True))
    spans = {}
    for key, p in (("week", week), ("ytd", ytd)):
        rows = outfalls.by_zone(store, p.start, p.end)
        rows["zone"] = rows["zone"].map(lambda z: names.get(str(z), str(z)))
        spans[key] = rows.set_index("zone")
    week_rows = spans["week"]  # both spans list the same zones: those of the outfalls
    out = pd.DataFrame({"zone": week_rows.index, "outfalls": week_rows["outfalls"].to_numpy()})
    for key, rows in spans.items():
        any_inspection = bool(rows["inspections"].sum()) if not rows.empty else False
        for col in ("inspections", "violations"):
            values = rows[col].reindex(out["zone"]).to_numpy()
            out[f"{key}_{col}"] = pd.array(
                values if any_inspection else [pd.NA] * len(out), dtype="Int64"
            )
        lists = rows["not_inspected"].reindex(out["zone"]).tolist()
        out[f"{key}_not_inspected"] = pd.Series(
            [list(v) if any_inspection and isinstance(v, list) else None for v in lists],
            index=out.index,
            dtype=object,
        )
    # zones without a registered outfall: listed, with nothing to count
    seen = set(out["zone"])
    extra = [n for n in zones["name"].astype(str) if n not in seen]
    if extra:
        blank = pd.DataFrame({"zone": extra, "outfalls": [0] * len(extra)})
        for col in ZONE_COUNT_COLUMNS[2:]:
            blank[col] = (
                pd.array([pd.NA] * len(extra), dtype="Int64")
                if not col.endswith("not_inspected")
                else [None] * len(extra)
            )
        out = pd.concat([out, blank], ignore_index=True)
    out["_v"] = out["week_violations"].fillna(-1).astype(int)
    out["_y"] = out["ytd_violations"].fillna(-1).astype(int)
    out["_none"] = out["zone"] == NO_ZONE
    out = out.sort_values(["_v", "_y", "_none", "zone"], ascending=[False, False, True, True])
    return out.loc[:, list(ZONE_COUNT_COLUMNS)].reset_index(drop=True)


def _zero_discharge(loaded: LoadedConfig, store: Store, week: scoring.Period) -> ZeroDischarge:
    """Zones, outfalls with the week's inspections, and the counts per zone (see
    `ZeroDischarge`); a zone named by its id in the outfall sheet is shown by its name."""
    ytd = year_to_date(week)
    limits = {str(k): dict(v) for k, v in loaded.config.outfall_limits.items()}
    zones = _zones(store, week)
    sites = store.sites("outfall")
    newest = store.conn.execute("SELECT max(time_local) FROM outfall_inspections").fetchone()[0]
    if sites.empty:
        return ZeroDischarge(
            zones,
            _frame(OUTFALL_COLUMNS),
            _frame(INSPECTION_COLUMNS),
            _frame(ZONE_COUNT_COLUMNS),
            newest,
            limits,
        )
    inspections = outfalls.inspections(store, week.start, week.end)
    inspections = inspections.loc[:, list(INSPECTION_COLUMNS)].reset_index(drop=True)
    last = dict(
        store.conn.execute(
            "SELECT site_id, max(time_local) FROM outfall_inspections "
            "WHERE substr(time_local, 1, 10) <= ? GROUP BY site_id",
            (week.end.isoformat(),),
        ).fetchall()
    )
    names = dict(zip(zones["zone_id"].astype(str), zones["name"].astype(str), strict=True))
    found = inspections["violation"].fillna("").astype(str) != ""
    n_week = inspections.groupby("site_id").size()
    n_bad = inspections.loc[found].groupby("site_id").size()
    out = sites.copy()
    out["zone"] = out["zone"].map(lambda z: None if missing_value(z) else names.get(str(z), z))
    out["type_label"] = out["outfall_type"].map(OUTFALL_TYPE_LABELS).fillna("排口")
    out["n_week"] = out["site_id"].map(n_week).fillna(0).astype(int)
    out["n_violations"] = out["site_id"].map(n_bad).fillna(0).astype(int)
    out["state"] = [
        "violation" if bad else ("clean" if n else "not_inspected")
        for n, bad in zip(out["n_week"], out["n_violations"], strict=True)
    ]
    out["last_inspected"] = out["site_id"].map(last)
    inspections["zone"] = inspections["zone"].map(
        lambda z: None if missing_value(z) else names.get(str(z), z)
    )
    return ZeroDischarge(
        zones,
        out.loc[:, list(OUTFALL_COLUMNS)].reset_index(drop=True),
        inspections,
        _zone_counts(store, week, ytd, zones),
        newest,
        limits,
    )


def period_label(period: str) -> str:
    """``2018`` → 2018年, ``2018-Q4`` → 2018年第四季度, ``2019-01`` → 2019年1月."""
    quarter = re.fullmatch(r"(\d{4})-Q([1-4])", period)
    if quarter:
        return f"{quarter.group(1)}年第{'一二三四'[int(quarter.group(2)) - 1]}季度"
    month = re.fullmatch(r"(\d{4})-(\d{2})", period)
    if month:
        return f"{month.group(1)}年{int(month.group(2))}月"
    return f"{period}年" if re.fullmatch(r"\d{4}", period) else period


def _indicators(
    loaded: LoadedConfig, store: Store, end: date
) -> tuple[pd.DataFrame, bool, str | None]:
    """The latest value of each indicator whose period had begun by `end` (as scoring does),
    whether the store has any indicator value, and the newest period it holds."""
    rows = pd.read_sql_query(
        "SELECT indicator_id, indicator, period_kind, period, value, unit, flag, period_end "
        "FROM zero_waste_indicators",
        store.conn,
    )
    has_data = not rows.empty
    newest = None
    if has_data:
        newest = period_label(str(rows.sort_values("period_end")["period"].iloc[-1]))
        ends = (
            pd.to_datetime(rows["period_end"].astype("int64"), unit="s", utc=True)
            .dt.tz_convert(loaded.config.timezone)
            .dt.tz_localize(None)
        )
        months = rows["period_kind"].map({"year": 12, "quarter": 3, "month": 1}).fillna(12)
        starts = [e - pd.DateOffset(months=int(m)) for e, m in zip(ends, months, strict=True)]
        rows = rows.loc[[s <= pd.Timestamp(end) for s in starts]]
    configured = list(loaded.config.indicators)
    known = {i.id for i in configured}
    out = []
    for ind in configured:
        out.append(_indicator_row(rows, ind.id, ind.name, ind.unit, ind.goal, ind.op))
    for ident in sorted(set(rows["indicator_id"]) - known) if has_data else []:
        mine = rows.loc[rows["indicator_id"] == ident]
        out.append(
            _indicator_row(rows, ident, str(mine["indicator"].iloc[0]), str(mine["unit"].iloc[0]))
        )
    frame = pd.DataFrame(out, columns=list(INDICATOR_COLUMNS))
    frame["met"] = frame["met"].astype("boolean")
    return frame, has_data, newest


def _indicator_row(
    rows: pd.DataFrame,
    ident: str,
    name: str,
    unit: str,
    goal: float | None = None,
    op: str = ">=",
) -> dict[str, Any]:
    """One indicator's row: its latest value in `rows`, the goal text and whether it is met."""
    mine = rows.loc[rows["indicator_id"] == ident].sort_values("period_end")
    goal_text = "未设目标" if goal is None else f"{scoring.OP_TEXT[op]} {goal:g}{unit}"
    if mine.empty:
        return {
            "indicator_id": ident,
            "name": name,
            "unit": unit,
            "value": math.nan,
            "period": None,
            "provisional": False,
            "goal": goal_text,
            "met": None,
        }
    last = mine.iloc[-1]
    value = float(last["value"])
    return {
        "indicator_id": ident,
        "name": name,
        "unit": unit,
        "value": value,
        "period": period_label(str(last["period"])),
        "provisional": last["flag"] == "provisional",
        "goal": goal_text,
        "met": None if goal is None else bool(scoring.OPS[op](value, goal)),
    }


def _cells(
    loaded: LoadedConfig, store: Store, week: scoring.Period
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int] | None]:
    """(cells with their state at the week's end, counts per type, the year's task or None).

    A cell counts as built when its status is built and its built_on is on or before the
    week's end; as built this year from 1 January of the week's end's year.
    """
    cells = pd.read_sql_query(
        "SELECT cell_id, name, cell_type, address, status, built_on, lon, lat "
        "FROM zero_waste_cells ORDER BY cell_type, name",
        store.conn,
    )
    year = week.end.year
    tasks = loaded.config.cell_tasks.get(year) or None
    if cells.empty:
        return _frame(CELL_COLUMNS), _frame(CELL_TYPE_COLUMNS), tasks
    last, first = week.end.isoformat(), week.start.isoformat()
    built_on = [_day(v) for v in cells["built_on"]]
    built = [
        s == "built" and d is not None and d <= last
        for s, d in zip(cells["status"], built_on, strict=True)
    ]
    cells["built_on"] = pd.Series(built_on, index=cells.index, dtype=object)
    cells["state"] = ["built" if b else "building" for b in built]
    cells["state_label"] = cells["state"].map(CELL_STATE_LABELS)
    cells["built_this_year"] = [
        b and str(d) >= f"{year}-01-01" for b, d in zip(built, built_on, strict=True)
    ]
    cells["built_this_week"] = [b and str(d) >= first for b, d in zip(built, built_on, strict=True)]
    types = [c.type for c in loaded.config.cell_types]
    types += sorted(set(cells["cell_type"].astype(str)) - set(types))
    rows = []
    for t in types:
        mine = cells.loc[cells["cell_type"] == t]
        task = (tasks or {}).get(t)
        done = int(mine["built_this_year"].sum())
        rows.append(
            {
                "cell_type": t,
                "built_ytd": done,
                "task": task,
                "done": None if task is None else done >= task,
                "built_before": int(((mine["state"] == "built") & ~mine["built_this_year"]).sum()),
                "building": int((mine["state"] == "building").sum()),
            }
        )
    by_type = pd.DataFrame(rows, columns=list(CELL_TYPE_COLUMNS))
    by_type["task"] = by_type["task"].astype("Int64")
    by_type["done"] = by_type["done"].astype("boolean")
    return cells.loc[:, list(CELL_COLUMNS)].reset_index(drop=True), by_type, tasks


def _zero_waste(loaded: LoadedConfig, store: Store, week: scoring.Period) -> ZeroWaste:
    """Indicators and cells for the week (see `ZeroWaste`)."""
    indicators, has_data, newest = _indicators(loaded, store, week.end)
    cells, by_type, tasks = _cells(loaded, store, week)
    types = [c.type for c in loaded.config.cell_types]
    types += [t for t in by_type["cell_type"].astype(str) if t not in types]
    return ZeroWaste(indicators, cells, by_type, week.end.year, tasks, has_data, types, newest)


@dataclass(frozen=True)
class YearOutlook:
    """The year's outlook against the plan at the end of the report's period (see
    `envwatch.outlook`): None parts where stations.yaml sets no such target."""

    as_of: date
    days_left: int
    good_days: outlook.GoodDayOutlook | None
    pm25: outlook.Pm25Outlook | None
    water: outlook.WaterOutlook | None


def area_summary(
    store: Store, region: Region, districts: list[str], period: scoring.Period
) -> pd.DataFrame:
    """The city's districts over `period`: good-day ratio, comprehensive index, PM2.5, valid
    days and their ranks (districts without data listed with ``no_data``).

    The one place the report reads district figures and the ranking from.
    """
    return air.district_summary(store, period.start, period.end, districts, city=region.city)


def area_days(store: Store, region: Region, days: list[date]) -> list[Day]:
    """The region district's days (HJ 663 district values), one per date of `days`."""
    dd = air.district_daily(store, days[0], days[-1], city=region.city)
    mine = dd.loc[dd["district"] == region.district] if not dd.empty else dd
    by_date = {pd.Timestamp(r["date"]).date(): r for _, r in mine.iterrows()}
    return [_day_from_row(d, by_date.get(d), district=True) for d in days]


RANKING_COLUMNS = (
    "rank",
    "district",
    "good_day_ratio",
    "n_valid_days",
    "pm25_mean",
    "comprehensive_index",
    "rank_comprehensive_index",
    "no_data",
    "is_region",
)


def ranking(summary: pd.DataFrame, region: Region) -> pd.DataFrame:
    """The districts by good-day ratio rank (ties share a rank), those without data last."""
    out = summary.copy()
    out["rank"] = out["rank_good_day_ratio"]
    out["is_region"] = out["district"] == region.district
    for col in RANKING_COLUMNS:
        if col not in out:
            out[col] = math.nan
    out = out.sort_values(["no_data", "rank", "district"], na_position="last")
    return out.loc[:, list(RANKING_COLUMNS)].reset_index(drop=True)


def year_outlook(
    loaded: LoadedConfig, ytd_row: pd.Series | None, water_ytd: pd.DataFrame, end: date
) -> YearOutlook:
    """The year's outlook at `end` from the district's year-to-date row (`area_summary`) and
    the year-to-date water classes (`water` rows of the report's city)."""
    targets = {t.id: t for t in loaded.config.targets}
    left = outlook.days_left(end)
    good = pm = wat = None
    t = targets.get("air.good_day_ratio")
    if t is not None and not isinstance(t.goal, str):
        valid = 0 if ytd_row is None else int(ytd_row["n_valid_days"])
        good_days = 0 if ytd_row is None or not valid else int(ytd_row["good_days"])
        good = outlook.good_day_outlook(valid, good_days, left, float(t.goal))
    t = targets.get("air.pm25_annual")
    if t is not None and not isinstance(t.goal, str):
        has = ytd_row is not None and not missing_value(ytd_row.get("pm25_mean"))
        n = int(ytd_row["n_pm25"]) if has and ytd_row is not None else 0
        mean = float(ytd_row["pm25_mean"]) if has and ytd_row is not None else math.nan
        pm = outlook.pm25_outlook(mean, n, left, float(t.goal))
    if "water.target_compliance" in targets or "water.good_ratio" in targets:
        judged = (
            water_ytd.loc[water_ytd["meets_target"].notna()] if not water_ytd.empty else water_ytd
        )
        missed = (
            judged.loc[~judged["meets_target"].astype(bool), "site_name"].astype(str).tolist()
            if not judged.empty
            else []
        )
        wat = outlook.water_outlook(missed, len(judged), end)
    return YearOutlook(end, left, good, pm, wat)


def _water_months(
    store: Store, region: Region, districts: list[str], period: scoring.Period, tz: str
) -> pd.DataFrame:
    """The city's sections with a class in each month of `period` (a year): one row per
    section, columns site_name, district, target_class, and ``1`` … ``12`` (class 1–6, NaN
    without samples that month)."""
    frames = []
    month = period.start
    while month <= period.end:
        end = min((month + timedelta(days=32)).replace(day=1) - timedelta(days=1), period.end)
        span = scoring.Period(f"{month:%Y-%m}", "month", month, end)
        city, _ = _water(store, region, districts, span, tz)
        if not city.empty:
            frames.append(city.assign(month=month.month))
        month = end + timedelta(days=1)
    if not frames:
        return pd.DataFrame(columns=["site_name", "district", "target_class"])
    rows = pd.concat(frames, ignore_index=True)
    table = rows.pivot_table(
        index="site_name", columns="month", values="class_num", aggfunc="first"
    )
    info = rows.drop_duplicates("site_name").set_index("site_name")
    table.columns = [str(c) for c in table.columns]
    table.insert(0, "target_class", info["target_class"].reindex(table.index))
    table.insert(0, "district", info["district"].reindex(table.index))
    return table.reset_index()


def _year_view(
    loaded: LoadedConfig,
    store: Store,
    districts: list[str],
    period: scoring.Period,
    summary: pd.DataFrame,
    water_city: pd.DataFrame,
) -> YearOutlook:
    """The year's outlook at the end of a month or a year (`summary` and `water_city` are the
    period's; a month reads the year to date's)."""
    region = loaded.config.region
    ytd = year_to_date(period)
    if period.kind != "year":
        summary = area_summary(store, region, districts, ytd)
        water_city = _water(store, region, districts, ytd, str(loaded.tz))[0]
    mine = summary.loc[(summary["district"] == region.district) & ~summary["no_data"].astype(bool)]
    return year_outlook(loaded, None if mine.empty else mine.iloc[0], water_city, ytd.end)


def gather(
    loaded: LoadedConfig,
    store: Store,
    store_path: Path,
    week: str | scoring.Period,
    *,
    today: date | None = None,
    now: datetime | None = None,
) -> ReportData:
    """Collect what the report for `week` shows: an ISO week (``2026-W47``) or a Period of
    kind week, month or year (see `report_period`).

    Raises UsageError when the store holds no data at all (air or water) for that period.
    """
    tz = loaded.tz
    now = now or datetime.now(tz)
    today = today or now.astimezone(tz).date()
    region = loaded.config.region
    period = week if isinstance(week, scoring.Period) else week_period(week, today)
    days = [period.start + timedelta(days=i) for i in range(period.days)]
    bounds = _region_districts(loaded)
    districts = bounds["district"].tolist()

    stations, with_data = _stations(store, region, districts, days)
    water_city, water_other = _water(store, region, districts, period, str(tz))
    air_newest = _newest(store, "air_hour", tz)
    water_newest = _newest(store, "water_sample", tz)
    if not with_data and water_city.empty and water_other.empty:
        option = period.label
        raise UsageError(
            f"no data for {option} ({period.start} … {period.end}) in {store_path}, "
            f"nothing to report (newest air data: {air_newest or 'none'}; newest water "
            f"sample: {water_newest or 'none'}); ingest that period first, or choose one "
            f"with data: envwatch report --{period.kind} "
            + {"week": "YYYY-Www", "month": "YYYY-MM", "year": "YYYY"}[period.kind]
        )

    summary = area_summary(store, region, districts, period)
    district_days = area_days(store, region, days)
    calendar_days: list[Day] = []
    if period.kind == "month":  # the whole month, days after today without data
        month_end = (period.start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        rest = [period.end + timedelta(days=i + 1) for i in range((month_end - period.end).days)]
        calendar_days = district_days + [_day_from_row(d, None, district=True) for d in rest]

    goal = next(
        (float(t.goal) for t in loaded.config.targets if t.id == "air.good_day_ratio"),
        93.0,
    )
    phase = str(air_stats.limit_phase([pd.Timestamp(period.end)])[0])
    limits = {
        "pm25": float(air_stats.LIMITS_24H[phase]["pm25"]),
        "o3_8h": float(air_stats.LIMITS_24H[phase]["o3_8h"]),
    }
    notes = []
    if period.end >= today:
        notes.append(
            f"{PERIOD_WORDS[period.kind]}尚未结束（今天是 {today:%Y-%m-%d}），数据不完整。"
        )
    ytd = year_to_date(period)
    year_view: YearOutlook | None = None
    water_months = pd.DataFrame()
    if period.kind in ("month", "year"):
        year_view = _year_view(loaded, store, districts, period, summary, water_city)
    if period.kind == "year":
        water_months = _water_months(store, region, districts, period, str(tz))
    return ReportData(
        region=region,
        period=period,
        ytd=ytd,
        generated_at=now.astimezone(tz),
        week_complete=period.end < today,
        scorecard=scorecard(
            loaded, store, period, today=today, compare=period.kind in ("month", "year")
        ),
        districts=_district_polygons(bounds, summary, region),
        district_days=district_days,
        stations=stations,
        air_days_with_data=with_data,
        invalid_days=_invalid_days(stations, with_data),
        water=water_city,
        water_other=water_other,
        freshness=_freshness(loaded, store_path),
        air_newest=air_newest,
        water_newest=water_newest,
        good_day_goal=goal,
        limits=limits,
        zero_discharge=_zero_discharge(loaded, store, period),
        zero_waste=_zero_waste(loaded, store, period),
        notes=notes,
        ranking=ranking(summary, region),
        outlook=year_view,
        water_months=water_months,
        calendar_days=calendar_days,
        problems=_problems(loaded, store, period, now),
    )


def _problems(loaded: LoadedConfig, store: Store, period: scoring.Period, now: datetime) -> Any:
    """The period's 问题清单 (alerts open, overdue and closed), from envwatch.alerts."""
    from envwatch.alerts.problems import problem_list
    from envwatch.config import parse_duration

    return problem_list(
        store.conn,
        period.start,
        period.end,
        tz=loaded.tz,
        overdue_after=parse_duration(loaded.config.alerts.overdue_after),
        now=now,
    )
