"""The plan's targets, scored per period: value, goal, met, the previous period and the trend.

Periods are local calendar periods, both ends included: ``2026`` (the year; for the current year
it ends today: year to date), ``2026-11`` (a month), ``2026-W47`` (an ISO week, Monday to
Sunday). The previous period is the week, month or year before; for a year to date it is the
same span of the year before.

A target with no data in the period says so (value NaN, ``value_text`` 无数据) and is never
scored as met. The goals come from stations.yaml (`targets:`), never from code.

Air targets use the area values as published (view ``area_daily``: the district's and the
city's values from the stations that count on each day) and the period figures of
`envwatch.stats`, rounded as the bulletins round them; the rank is among the city's ranking
areas (districts and configured groups). Water targets the period means of the sections of the
configured control level and above (GB 3838, 环办〔2011〕22号).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from envwatch import stats, water
from envwatch.config import LoadedConfig, Target
from envwatch.errors import UsageError
from envwatch.standards.aqi import round_half_even
from envwatch.store import Store, iso, utcnow

SCORE_COLUMNS = (
    "period",
    "target_id",
    "label",
    "value",
    "value_text",
    "unit",
    "goal",
    "met",
    "previous",
    "trend",
    "detail",
    "period_start",
    "period_end",
)

NO_DATA = "无数据"

OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
OP_TEXT = {">=": "≥", "<=": "≤", "==": "=", ">": ">", "<": "<"}
"""The comparison of a goal (``>=``, ``<=``, ...) as a function, and as staff read it."""


@dataclass(frozen=True)
class Period:
    """A scoring period: local dates `start` … `end`, both included."""

    label: str
    kind: str  # week, month, year
    start: date
    end: date

    def previous(self) -> Period:
        """The period before: the week, month or year before (a year to date: same span)."""
        if self.kind == "week":
            start = self.start - timedelta(days=7)
            iso_year, week, _ = start.isocalendar()
            return Period(f"{iso_year}-W{week:02d}", "week", start, start + timedelta(days=6))
        if self.kind == "month":
            last = self.start - timedelta(days=1)
            start = last.replace(day=1)
            return Period(f"{start:%Y-%m}", "month", start, last)
        start = self.start.replace(year=self.start.year - 1)
        try:
            end = self.end.replace(year=self.end.year - 1)
        except ValueError:  # 29 February
            end = self.end.replace(year=self.end.year - 1, day=28)
        return Period(str(start.year), "year", start, end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def parse_period(text: str, today: date) -> Period:
    """``2026``, ``2026-11`` or ``2026-W47`` -> Period; the current year or month ends today."""
    text = text.strip()
    m = re.fullmatch(r"(\d{4})-W(\d{1,2})", text)
    if m:
        try:
            start = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            raise UsageError(f"'{text}' is not an ISO week: write e.g. 2026-W47") from None
        return Period(
            f"{m.group(1)}-W{int(m.group(2)):02d}", "week", start, start + timedelta(days=6)
        )
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise UsageError(f"'{text}' is not a month: write e.g. 2026-11")
        start = date(year, month, 1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        return Period(f"{year}-{month:02d}", "month", start, min(end, max(today, start)))
    m = re.fullmatch(r"(\d{4})", text)
    if m:
        year = int(m.group(1))
        start = date(year, 1, 1)
        return Period(str(year), "year", start, min(date(year, 12, 31), max(today, start)))
    raise UsageError(
        f"'{text}' is not a period: write a year (2026), a month (2026-11) or a week (2026-W47)"
    )


def last_complete_week(today: date) -> str:
    """The ISO week before the one `today` is in, e.g. ``2026-W47``."""
    monday = today - timedelta(days=today.weekday()) - timedelta(days=7)
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class Measure:
    """One target measured over one period."""

    value: float | None
    text: str
    detail: str = ""
    extra_ok: bool = True  # a further condition of the goal (e.g. "and falling")
    # for goals like "all met": whether every part is met (None: the goal is a number)
    complete: bool | None = None


class _Context:
    def __init__(self, loaded: LoadedConfig, store: Store) -> None:
        self.loaded = loaded
        self.store = store
        self._districts: list[str] | None = None
        self._figures: dict[tuple[date, date], pd.DataFrame] = {}
        self._ranking: dict[tuple[date, date], pd.DataFrame] = {}
        self._water: dict[tuple[date, date, str, str], dict[str, Any]] = {}

    @property
    def region(self) -> Any:
        return self.loaded.config.region

    def area_names(self) -> tuple[str, str]:
        """(the region's district, its city) as the area values name them."""
        from envwatch.area import city_name

        return self.region.district, str(city_name(self.region.city) or self.region.city)

    def figures(self, period: Period) -> pd.DataFrame:
        """Period figures (as published) of the region's district and city, by area."""
        key = (period.start, period.end)
        if key not in self._figures:
            self._figures[key] = stats.area_figures(
                self.store,
                list(self.area_names()),
                period.start,
                period.end,
                denominators=self.loaded.config.index_denominators,
            ).set_index("area")
        return self._figures[key]

    def ranking(self, period: Period) -> pd.DataFrame:
        """The city's ranking areas (辖区) over the period (`envwatch.stats.rank`)."""
        key = (period.start, period.end)
        if key not in self._ranking:
            if self._districts is None:
                self._districts = stats.city_districts(self.loaded)
            areas = stats.ranking_areas(self.store, self._districts, period.start, period.end)
            self._ranking[key] = stats.rank(
                self.store,
                areas,
                period.start,
                period.end,
                denominators=self.loaded.config.index_denominators,
            )
        return self._ranking[key]

    def area_row(self, period: Period, which: str = "district") -> pd.Series | None:
        """The district's (or the city's) figures; None without valid days."""
        name = self.area_names()[0 if which == "district" else 1]
        rows = self.figures(period).loc[lambda f: f.index == name]
        if rows.empty or int(rows["n_valid_days"].iloc[0]) == 0:
            return None
        return rows.iloc[0]

    def district_row(self, period: Period) -> pd.Series | None:
        return self.area_row(period, "district")

    def city_text(
        self, period: Period, column: str, unit: str, digits: int = 0, label: str = ""
    ) -> str:
        """'；全市… 55 µg/m³': the city's figure for context, '' when the city has none."""
        row = self.area_row(period, "city")
        if row is None or pd.isna(row[column]):
            return ""
        return f"；全市{label} {_fmt(float(row[column]), digits)}{unit}"

    def water_sites(self, scope: str) -> list[str]:
        """Water sections a target covers: the district's (default), the city's, or all."""
        sites = self.store.sites("water")
        if scope == "district":
            sites = sites.loc[sites["district"] == self.region.district]
        elif scope == "city":
            sites = sites.loc[sites["city"] == self.region.city]
        elif scope != "all":
            raise UsageError(f"targets: water scope '{scope}' is not district, city or all")
        return sites["site_id"].tolist()

    def water_summary(self, period: Period, level: str, scope: str) -> dict[str, Any]:
        key = (period.start, period.end, level, scope)
        if key not in self._water:
            self._water[key] = water.summary(
                self.store,
                period.start,
                period.end,
                min_control_level=level,
                sites=self.water_sites(scope),
            )
        return self._water[key]


def _fmt(value: float, digits: int = 1) -> str:
    # rounded once from full precision, half to even as published (GB/T 8170)
    value = float(round_half_even(value, digits))
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def _good_day_ratio(ctx: _Context, t: Target, p: Period) -> Measure:
    row = ctx.district_row(p)
    if row is None:
        return Measure(None, NO_DATA, f"{ctx.region.district}本期无有效日数据")
    ratio = float(row["good_day_ratio"])
    polluted = sum(int(row[c]) for c in ("light", "moderate", "heavy", "severe"))
    city = ctx.city_text(p, "good_day_ratio", "%", 1, "优良率")
    return Measure(
        ratio,
        f"{_fmt(ratio)}%",
        f"有效天数 {int(row['n_valid_days'])}，优良 {int(row['excellent']) + int(row['good'])} 天，"
        f"轻度及以上污染 {polluted} 天{city}",
    )


def _rank(ctx: _Context, t: Target, p: Period) -> Measure:
    df = ctx.ranking(p)
    me = df.loc[df["area"] == ctx.region.district]
    with_data = df.loc[~df["no_data"]]
    missing = df.loc[df["no_data"], "area"].tolist()
    missing_text = f"；无数据：{'、'.join(missing)}" if missing else ""
    if me.empty or bool(me["no_data"].iloc[0]):
        return Measure(None, NO_DATA, f"{ctx.region.district}本期无有效日数据{missing_text}")
    rank = int(me["rank_good_day_ratio"].iloc[0])
    ci_rank = me["rank_comprehensive_index"].iloc[0]
    listing = "、".join(
        f"{name}{_fmt(ratio)}%"
        for name, ratio in zip(
            with_data["area"].tolist(),
            with_data["good_day_ratio"].astype(float).tolist(),
            strict=True,
        )
    )
    ci_text = f"，综合指数排名第 {int(ci_rank)} 名" if not pd.isna(ci_rank) else ""
    tie = "并列" if int((with_data["rank_good_day_ratio"] == rank).sum()) > 1 else ""
    return Measure(
        float(rank),
        f"{tie}第 {rank} 名（{len(with_data)} 个辖区有数据）",
        f"优良率排名：{listing}{ci_text}{missing_text}",
    )


def _validity(row: pd.Series, pollutant: str) -> str:
    notes = [n for n in str(row["validity_note"]).split("; ") if n.startswith(f"{pollutant} ")]
    return f"；有效性不足（HJ 663）：{'; '.join(notes)}" if notes else ""


def _pm25(ctx: _Context, t: Target, p: Period) -> Measure:
    row = ctx.district_row(p)
    if row is None or pd.isna(row["pm25"]):
        return Measure(None, NO_DATA, f"{ctx.region.district}本期无有效 PM2.5 日均值")
    mean = float(row["pm25"])
    note = "年度目标，年初至今均值" if p.kind == "year" else "年度目标，此为本期均值，仅供参考"
    city = ctx.city_text(p, "pm25", " µg/m³")
    return Measure(
        mean,
        f"{_fmt(mean)} µg/m³",
        f"{note}，有效天数 {int(row['n_valid_days'])}{_validity(row, 'pm25')}{city}",
    )


def _co_control(ctx: _Context, t: Target, p: Period) -> Measure:
    row = ctx.district_row(p)
    if row is None or pd.isna(row["o3_8h_p90"]):
        return Measure(None, NO_DATA, f"{ctx.region.district}本期无有效臭氧日最大8小时值")
    p90 = float(row["o3_8h_p90"])
    before = ctx.district_row(p.previous())
    falling = True
    trend_note = "上期无数据"
    if before is not None and not pd.isna(before["o3_8h_p90"]):
        falling = p90 <= float(before["o3_8h_p90"])
        trend_note = f"上期 {_fmt(float(before['o3_8h_p90']))}，{'未上升' if falling else '上升'}"
    wants_falling = str(t.params.get("trend", "")) == "falling"
    city = ctx.city_text(p, "o3_8h_p90", "", label="O3-8h 第90百分位")
    detail = (
        f"首要污染物为 PM2.5 的天数 {int(row['primary_pm25'])}，为 O3 的天数 "
        f"{int(row['primary_o3'])}；污染天中 PM2.5 主导 {int(row['polluted_days_pm25'])} 天、"
        f"O3 主导 {int(row['polluted_days_o3'])} 天；O3-8h 第90百分位 {_fmt(p90)}（{trend_note}）"
        f"{city}"
    )
    return Measure(p90, f"{_fmt(p90)} µg/m³", detail, extra_ok=falling or not wants_falling)


def _water_level(t: Target) -> str:
    return str(t.params.get("min_control_level", "市控"))


def _water(ctx: _Context, t: Target, p: Period) -> dict[str, Any]:
    return ctx.water_summary(p, _water_level(t), str(t.params.get("scope", "district")))


def _no_water(ctx: _Context, t: Target, s: dict[str, Any]) -> Measure:
    scope = str(t.params.get("scope", "district"))
    where = {"district": ctx.region.district, "city": ctx.region.city}.get(scope, "")
    if not s["sections"]:
        return Measure(
            None,
            NO_DATA,
            f"stations.yaml 中尚无{where}{_water_level(t)}及以上的断面（sites 中 kind: water，"
            f"district: {where}）"
            if where
            else "stations.yaml 中尚无断面",
        )
    return Measure(
        None, NO_DATA, f"{where}{_water_level(t)}及以上断面 {s['sections']} 个，本期均无水质数据"
    )


def _water_good(ctx: _Context, t: Target, p: Period) -> Measure:
    s = _water(ctx, t, p)
    if not s["evaluated"]:
        return _no_water(ctx, t, s)
    return Measure(
        float(s["good_ratio"]),
        f"{_fmt(float(s['good_ratio']))}%",
        f"评价断面 {s['evaluated']} 个（{_water_level(t)}及以上）"
        + (f"；无数据 {len(s['no_data'])} 个" if s["no_data"] else ""),
    )


def _water_class_v(ctx: _Context, t: Target, p: Period) -> Measure:
    s = _water(ctx, t, p)
    if not s["evaluated"]:
        return _no_water(ctx, t, s)
    names = "、".join(s["class_v_sections"])
    return Measure(
        float(s["class_v"]),
        f"{s['class_v']} 个",
        f"Ⅴ类及劣Ⅴ类：{names}" if names else f"评价断面 {s['evaluated']} 个，无Ⅴ类及劣Ⅴ类",
    )


def _water_compliance(ctx: _Context, t: Target, p: Period) -> Measure:
    s = _water(ctx, t, p)
    if not s["evaluated"]:
        return _no_water(ctx, t, s)
    if not s["compliance_evaluated"]:
        return Measure(None, NO_DATA, "本期有数据的断面均未设目标类别（target_class）")
    missing = "、".join(s["missing_target"])
    return Measure(
        float(s["compliance"]),
        f"{_fmt(float(s['compliance']))}%",
        f"评价断面 {s['compliance_evaluated']} 个" + (f"；未达标：{missing}" if missing else ""),
    )


def _zones_text(ctx: _Context, p: Period) -> str:
    zones = pd.read_sql_query("SELECT name, status, due_on FROM zones", ctx.store.conn)
    if zones.empty:
        return "尚无零直排区数据（zone-sheet）"
    accepted = zones["status"].isin(["accepted", "reinspected"])
    overdue = zones.loc[~accepted & zones["due_on"].notna() & (zones["due_on"] < p.end.isoformat())]
    text = f"零直排区已验收 {int(accepted.sum())}/{len(zones)}（{100 * accepted.mean():.0f}%）"
    if not overdue.empty:
        text += f"，逾期未验收：{'、'.join(overdue['name'])}"
    return text


def _outfall_violations(ctx: _Context, t: Target, p: Period) -> Measure:
    from envwatch import outfalls

    registered = ctx.store.sites("outfall")
    zones = _zones_text(ctx, p)
    if registered.empty:
        return Measure(None, NO_DATA, f"尚无排口数据（outfall-sheet）；{zones}")
    zone_rows = outfalls.by_zone(ctx.store, p.start, p.end)
    inspected = int(zone_rows["inspections"].sum())
    missing = [n for names in zone_rows["not_inspected"] for n in names]
    missing_text = (
        f"；本期未巡查排口 {len(missing)} 个：{'、'.join(missing[:10])}"
        + (" 等" if len(missing) > 10 else "")
        if missing
        else ""
    )
    if not inspected:
        return Measure(None, NO_DATA, f"本期无排口巡查记录{missing_text}；{zones}")
    violations = int(zone_rows["violations"].sum())
    per_zone = "、".join(
        f"{zone} {n} 次"
        for zone, n in zip(zone_rows["zone"], zone_rows["violations"].astype(int), strict=True)
        if n
    )
    detail = (
        f"巡查 {inspected} 次，违规 {violations} 次（晴天排水 {int(zone_rows['dry_discharges'].sum())}，"
        f"雨天超标 {int(zone_rows['rain_exceedances'].sum())}，"
        f"污水排口超标 {int(zone_rows['sewage_exceedances'].sum())}）"
        + (f"；按区域：{per_zone}" if per_zone else "")
        + f"{missing_text}；{zones}"
    )
    return Measure(float(violations), f"{violations} 次", detail)


def _period_start(averaging: str, period_end: pd.Timestamp) -> pd.Timestamp:
    months = {"year": 12, "quarter": 3, "month": 1}.get(averaging, 12)
    return period_end - pd.DateOffset(months=months)


def _indicators(ctx: _Context, t: Target, p: Period) -> Measure:
    cfg = ctx.loaded.config
    if not cfg.indicators:
        return Measure(None, NO_DATA, "stations.yaml 未配置无废城市指标（indicators）")
    rows = pd.read_sql_query(
        "SELECT indicator_id, period, period_kind, value, unit, flag, period_end "
        "FROM zero_waste_indicators",
        ctx.store.conn,
    )
    tz = ctx.loaded.config.timezone
    ends = (
        pd.to_datetime(rows["period_end"], unit="s", utc=True)
        .dt.tz_convert(tz)
        .dt.tz_localize(None)
    )
    starts = [_period_start(a, e) for a, e in zip(rows["period_kind"], ends, strict=True)]
    rows["start"] = pd.to_datetime(pd.Series(starts, dtype="datetime64[ns]"))
    rows = rows.loc[rows["start"] <= pd.Timestamp(p.end)]
    parts, met, missing, scored = [], 0, 0, 0
    for ind in cfg.indicators:
        mine = rows.loc[rows["indicator_id"] == ind.id].sort_values("period_end")
        goal = (
            f"目标 {OP_TEXT[ind.op]}{_fmt(ind.goal, 2)}{ind.unit}"
            if ind.goal is not None
            else "未设目标"
        )
        if mine.empty:
            if ind.goal is not None:
                missing += 1
                parts.append(f"{ind.name} 无数据（{goal}）")
            continue
        last = mine.iloc[-1]
        provisional = "，暂估" if last["flag"] == "provisional" else ""
        value = f"{ind.name} {_fmt(float(last['value']), 2)}{ind.unit}（{last['period']}{provisional}；{goal}"
        if ind.goal is None:
            parts.append(value + "）")
            continue
        scored += 1
        ok = OPS[ind.op](float(last["value"]), ind.goal)
        met += ok
        parts.append(value + f"，{'达标' if ok else '未达标'}）")
    with_goal = sum(1 for i in cfg.indicators if i.goal is not None)
    if not scored:
        return Measure(None, NO_DATA, "；".join(parts) or "尚无无废城市指标数据（indicator-sheet）")
    text = f"{met}/{with_goal} 项达标" + (f"（{missing} 项无数据）" if missing else "")
    measure = Measure(float(met), text, "；".join(parts))
    measure.complete = missing == 0 and met == with_goal
    return measure


def _cells(ctx: _Context, t: Target, p: Period) -> Measure:
    cfg = ctx.loaded.config
    cells = pd.read_sql_query("SELECT cell_type, status, built_on FROM cells", ctx.store.conn)
    year = p.end.year
    built = cells.loc[
        (cells["status"] == "built")
        & (cells["built_on"] >= f"{year}-01-01")
        & (cells["built_on"] <= p.end.isoformat())
    ]
    counts = built.groupby("cell_type").size()
    tasks = cfg.cell_tasks.get(year)
    built_text = "、".join(f"{k} {v}" for k, v in counts.items()) or "无"
    if not tasks:
        return Measure(
            None,
            NO_DATA,
            f"stations.yaml 未设 {year} 年细胞建设任务（cell_tasks）；{year} 年已建成：{built_text}",
        )
    if cells.empty:
        return Measure(None, NO_DATA, "尚无无废城市细胞数据（cells-sheet）")
    done = {k: int(counts.get(k, 0)) for k in tasks}
    n_met = sum(done[k] >= v for k, v in tasks.items())
    detail = "、".join(
        f"{k} {done[k]}/{v}{'' if done[k] >= v else '（未完成）'}" for k, v in tasks.items()
    )
    measure = Measure(float(n_met), f"{n_met}/{len(tasks)} 类完成", f"{year} 年建成/任务：{detail}")
    measure.complete = n_met == len(tasks)
    return measure


MEASURES: dict[str, Callable[[_Context, Target, Period], Measure]] = {
    "air.good_day_ratio": _good_day_ratio,
    "air.rank_in_city": _rank,
    "air.pm25_annual": _pm25,
    "air.pm25_o3_co_control": _co_control,
    "water.good_ratio": _water_good,
    "water.no_class_v": _water_class_v,
    "water.target_compliance": _water_compliance,
    "zero_discharge.outfalls": _outfall_violations,
    "zero_waste.indicators": _indicators,
    "zero_waste.cells": _cells,
}


def _goal_text(t: Target) -> str:
    if isinstance(t.goal, str):
        text = {"all": "全部达标"}.get(t.goal, t.goal)
    else:
        text = f"{OP_TEXT[t.op]} {_fmt(float(t.goal), 2)}{t.unit}"
    if t.params.get("trend") == "falling":
        text += "，且不上升"
    return text


def _met(t: Target, m: Measure) -> bool | None:
    if m.value is None or (isinstance(m.value, float) and math.isnan(m.value)):
        return None
    if isinstance(t.goal, str):
        return m.complete
    return bool(OPS[t.op](m.value, float(t.goal))) and m.extra_ok


def _trend(value: float | None, previous: float | None) -> str:
    if value is None or previous is None:
        return ""
    if abs(value - previous) < 1e-9:
        return "→"
    return "↑" if value > previous else "↓"


def score(
    loaded: LoadedConfig, store: Store, period: str | Period, *, today: date | None = None
) -> pd.DataFrame:
    """Score every target of the configuration over `period`; one row per target.

    Columns: `SCORE_COLUMNS`. ``met`` is a pandas boolean, <NA> when there is no data (never
    met). ``previous`` is the value over the period before; ``trend`` ↑ ↓ → compares them.
    """
    today = today or datetime.now(loaded.tz).date()
    p = period if isinstance(period, Period) else parse_period(period, today)
    ctx = _Context(loaded, store)
    rows = []
    for t in loaded.config.targets:
        measure = MEASURES[t.id]
        now = measure(ctx, t, p)
        before = measure(ctx, t, p.previous())
        rows.append(
            {
                "period": p.label,
                "target_id": t.id,
                "label": t.label,
                "value": now.value if now.value is not None else float("nan"),
                "value_text": now.text,
                "unit": t.unit,
                "goal": _goal_text(t),
                "met": _met(t, now),
                "previous": before.value if before.value is not None else float("nan"),
                "trend": _trend(now.value, before.value),
                "detail": now.detail,
                "period_start": p.start.isoformat(),
                "period_end": p.end.isoformat(),
            }
        )
    df = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    df["met"] = df["met"].astype("boolean")
    return df


def save(store: Store, df: pd.DataFrame) -> None:
    """Store scorecard rows (view ``scorecard``), replacing the same period's earlier rows."""
    if df.empty:
        return
    out = df.copy()
    out["met"] = out["met"].map(lambda v: None if pd.isna(v) else int(bool(v)))
    out["computed_at"] = iso(utcnow())
    with store.transaction():
        store.conn.execute("DELETE FROM score WHERE period = ?", (str(out["period"].iloc[0]),))
        store.replace_rows("score", out, [*SCORE_COLUMNS, "computed_at"])
