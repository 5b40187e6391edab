"""Rule evaluation: what each configured rule finds in the store since it last looked.

Each rule kind reads only the data newer than its cursor (per rule and subject, table
``alert_cursors``), bounded by a recent window before the subject's newest data, through the
tables' primary keys: a rule never scans history, and re-ingesting the same data finds nothing
new. A `Finding` says, per subject, whether the condition was seen in the new data and whether
it still holds at the newest of it; `envwatch.alerts.episodes` turns findings into episodes.

Time conventions: hourly air values are hour-ending (``period_end``, Unix seconds UTC); daily
values are local natural days; messages show local times (the config's time zone).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from envwatch.config import AQI_CATEGORY_NAMES, AlertRule, LoadedConfig, parse_duration

LABELS = {
    "air_hourly_aqi": "小时AQI超标",
    "air_daily_category": "日空气质量超标",
    "water_below_target": "断面水质未达目标",
    "outfall_violation": "排口违规",
    "zone_overdue": "零直排区逾期",
    "source_stale": "数据中断",
    "run_failed": "采集运行失败",
}

# How far before a subject's newest data a rule looks the first time (or after a long gap).
DEFAULT_WINDOW = {
    "air_hourly_aqi": "72h",
    "air_daily_category": "7d",
    "water_below_target": "35d",
    "outfall_violation": "35d",
}

CLASS_LABELS = {1: "Ⅰ类", 2: "Ⅱ类", 3: "Ⅲ类", 4: "Ⅳ类", 5: "Ⅴ类", 6: "劣Ⅴ类"}

# How many of the newest runs a first look at the ledger reads.
FIRST_RUNS = 50


@dataclass(frozen=True)
class Finding:
    """What a rule found about one subject in the data newer than its cursor.

    `seen`: the condition held at some point of the new data; `holds`: it holds at the newest
    of it; `detail` is Chinese text (what was seen, or the recovery when it no longer holds);
    `mark` is the cursor to keep (the newest data looked at), None to leave it.
    """

    subject: str
    subject_name: str
    subject_type: str
    seen: bool
    holds: bool
    detail: str
    mark: str | None


@dataclass
class RuleContext:
    """What a rule reads: the store's connection, the configuration, now, the cursors."""

    conn: sqlite3.Connection
    loaded: LoadedConfig
    now: datetime
    cursors: dict[tuple[str, str], str]

    @property
    def tz(self) -> ZoneInfo:
        return self.loaded.tz

    def local(self, ts: int) -> str:
        """Unix seconds as a local 'YYYY-MM-DD HH:MM'."""
        return f"{datetime.fromtimestamp(ts, UTC).astimezone(self.tz):%Y-%m-%d %H:%M}"

    def site_names(self, ids: Iterable[str]) -> dict[str, str]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT site_id, name FROM sites WHERE site_id IN ({marks})", ids
        ).fetchall()
        return {r[0]: r[1] for r in rows}


def label(rule: AlertRule) -> str:
    """The rule's name in messages."""
    return rule.label or LABELS[rule.kind]


def evaluate(rule: AlertRule, ctx: RuleContext) -> list[Finding]:
    """The findings of one rule (one per subject with new data or a current state)."""
    return _KINDS[rule.kind](rule, ctx)


def _window(rule: AlertRule) -> timedelta:
    if rule.window is not None:
        return parse_duration(rule.window)
    return parse_duration(DEFAULT_WINDOW.get(rule.kind, "7d"))


def _air_sites(rule: AlertRule, ctx: RuleContext) -> list[str]:
    """The rule's stations; default the district's air stations (background ones excluded),
    or every configured air station when none lies in the district."""
    if rule.sites:
        return list(rule.sites)
    district = ctx.loaded.config.region.district
    rows = ctx.conn.execute(
        "SELECT site_id FROM sites WHERE kind = 'air' AND district = ? "
        "AND coalesce(background, 0) = 0 ORDER BY site_id",
        (district,),
    ).fetchall()
    if rows:
        return [r[0] for r in rows]
    return [s.id for s in ctx.loaded.config.sites if s.kind == "air" and not s.background]


def _since(ctx: RuleContext, rule: AlertRule, subject: str, newest: int) -> int:
    lower = newest - int(_window(rule).total_seconds())
    mark = ctx.cursors.get((rule.id, subject))
    return max(lower, int(mark)) if mark is not None else lower


def _new_rows(
    ctx: RuleContext, rule: AlertRule, site: str, table: str, columns: str, where: str = ""
) -> list[Any]:
    """The subject's rows of `table` newer than the rule's cursor and within the rule's window
    before its newest row (by the table's key, site_id … period_end), oldest first."""
    newest = ctx.conn.execute(
        f"SELECT max(period_end) FROM {table} WHERE site_id = ? {where}", (site,)
    ).fetchone()[0]
    if newest is None:
        return []
    return ctx.conn.execute(
        f"SELECT period_end, {columns} FROM {table} WHERE site_id = ? {where} "
        "AND period_end > ? ORDER BY period_end",
        (site, _since(ctx, rule, site, newest)),
    ).fetchall()


def _air_hourly_aqi(rule: AlertRule, ctx: RuleContext) -> list[Finding]:
    assert rule.threshold is not None
    threshold = rule.threshold
    sites = _air_sites(rule, ctx)
    names = ctx.site_names(sites)
    out = []
    for site in sites:
        rows = _new_rows(
            ctx, rule, site, "air_hour", "aqi, category, primary_pollutant", "AND aqi IS NOT NULL"
        )
        if not rows:
            continue
        name = names.get(site, site)
        high = [r for r in rows if r[1] > threshold]
        last = rows[-1]
        if high:
            peak = max(high, key=lambda r: r[1])
            detail = (
                f"{name}（{site}）{ctx.local(high[0][0])} 小时AQI {high[0][1]}"
                f"（{high[0][2]}{_primary(high[0][3])}），超过 {threshold:g}；"
                f"新数据中 {len(high)} 小时超过，最高 {peak[1]}（{ctx.local(peak[0])}）"
            )
        else:
            detail = f"{name}（{site}）{ctx.local(last[0])} 小时AQI {last[1]}，不超过 {threshold:g}"
        if high and last[1] <= threshold:
            detail += f"；{ctx.local(last[0])} 已降至 {last[1]}"
        out.append(
            Finding(site, name, "station", bool(high), last[1] > threshold, detail, str(last[0]))
        )
    return out


def _primary(p: str | None) -> str:
    return f"，首要污染物 {p}" if p else ""


def _air_daily_category(rule: AlertRule, ctx: RuleContext) -> list[Finding]:
    assert rule.worse_than is not None
    limit = AQI_CATEGORY_NAMES.index(rule.worse_than)
    sites = _air_sites(rule, ctx)
    names = ctx.site_names(sites)
    days = _window(rule).days or 1
    out = []
    for site in sites:
        newest = ctx.conn.execute(
            "SELECT max(date) FROM air_day WHERE site_id = ?", (site,)
        ).fetchone()[0]
        if newest is None:
            continue
        lower = (date.fromisoformat(newest) - timedelta(days=days)).isoformat()
        mark = ctx.cursors.get((rule.id, site))
        since = max(lower, mark) if mark is not None else lower
        rows = ctx.conn.execute(
            "SELECT date, aqi, category, primary_pollutant FROM air_day "
            "WHERE site_id = ? AND date > ? AND category IS NOT NULL ORDER BY date",
            (site, since),
        ).fetchall()
        if not rows:
            continue
        name = names.get(site, site)
        bad = [r for r in rows if AQI_CATEGORY_NAMES.index(r[2]) > limit]
        last = rows[-1]
        if bad:
            detail = (
                f"{name}（{site}）{bad[0][0]} 日AQI {bad[0][1]}（{bad[0][2]}{_primary(bad[0][3])}），"
                f"劣于{rule.worse_than}；新数据中 {len(bad)} 天"
            )
        else:
            detail = f"{name}（{site}）{last[0]} 日AQI {last[1]}（{last[2]}）"
        holds = AQI_CATEGORY_NAMES.index(last[2]) > limit
        out.append(Finding(site, name, "station", bool(bad), holds, detail, last[0]))
    return out


def _water_below_target(rule: AlertRule, ctx: RuleContext) -> list[Finding]:
    if rule.sites:
        marks = ",".join("?" * len(rule.sites))
        sections = ctx.conn.execute(
            f"SELECT site_id, name, target_class FROM sites WHERE site_id IN ({marks}) "
            "AND target_class IS NOT NULL",
            rule.sites,
        ).fetchall()
    else:
        sections = ctx.conn.execute(
            "SELECT site_id, name, target_class FROM sites "
            "WHERE kind = 'water' AND target_class IS NOT NULL ORDER BY site_id"
        ).fetchall()
    out = []
    for site, name, target in sections:
        rows = _new_rows(
            ctx,
            rule,
            site,
            "water_sample",
            "class, main_pollutants",
            "AND kind IN ('auto', 'lab') AND class IS NOT NULL",
        )
        if not rows:
            continue
        bad = [r for r in rows if r[1] > target]
        last = rows[-1]
        want = CLASS_LABELS.get(target, str(target))
        if bad:
            first = bad[0]
            detail = (
                f"{name}（{site}）{ctx.local(first[0])} 水质{CLASS_LABELS.get(first[1])}，"
                f"未达目标{want}"
                + (f"，主要污染物 {first[2]}" if first[2] else "")
                + f"；新数据中 {len(bad)} 次"
            )
        else:
            detail = f"{name}（{site}）{ctx.local(last[0])} 水质{CLASS_LABELS.get(last[1])}，达到目标{want}"
        out.append(
            Finding(site, name, "section", bool(bad), last[1] > target, detail, str(last[0]))
        )
    return out


def _outfall_violation(rule: AlertRule, ctx: RuleContext) -> list[Finding]:
    if rule.sites:
        marks = ",".join("?" * len(rule.sites))
        outfalls = ctx.conn.execute(
            f"SELECT site_id, name FROM sites WHERE site_id IN ({marks})", rule.sites
        ).fetchall()
    else:
        outfalls = ctx.conn.execute(
            "SELECT site_id, name FROM sites WHERE kind = 'outfall' ORDER BY site_id"
        ).fetchall()
    out = []
    for site, name in outfalls:
        rows = _new_rows(ctx, rule, site, "outfall_check", "violation")
        if not rows:
            continue
        bad = [r for r in rows if r[1]]
        last = rows[-1]
        if bad:
            detail = f"{name}（{site}）{ctx.local(bad[0][0])} 巡查：{bad[0][1]}；新巡查中 {len(bad)} 次违规"
        else:
            detail = f"{name}（{site}）{ctx.local(last[0])} 巡查无违规"
        out.append(Finding(site, name, "outfall", bool(bad), bool(last[1]), detail, str(last[0])))
    return out


def _zone_overdue(rule: AlertRule, ctx: RuleContext) -> list[Finding]:
    today = ctx.now.astimezone(ctx.tz).date().isoformat()
    try:
        rows = ctx.conn.execute(
            "SELECT zone_id, name, status, due_on, accepted_on FROM zones ORDER BY zone_id"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    out = []
    for zone_id, name, status, due_on, accepted_on in rows:
        done = bool(accepted_on) or status in ("已验收", "已复核")
        overdue = bool(due_on) and due_on < today and not done
        if overdue:
            detail = f"零直排区 {name} 计划 {due_on} 完成，至今未验收（状态：{status or '无'}）"
        else:
            detail = f"零直排区 {name} 状态：{status or '无'}" + (
                f"，{accepted_on} 验收" if accepted_on else ""
            )
        out.append(Finding(zone_id, name, "zone", overdue, overdue, detail, None))
    return out


def _sources(rule: AlertRule, ctx: RuleContext, *, scheduled_only: bool) -> list[str]:
    if rule.sources:
        return list(rule.sources)
    return [
        s.name for s in ctx.loaded.config.sources if s.schedule is not None or not scheduled_only
    ]


def _source_stale(rule: AlertRule, ctx: RuleContext) -> list[Finding]:
    assert rule.hours is not None
    out = []
    for source in _sources(rule, ctx, scheduled_only=True):
        newest, runs = ctx.conn.execute(
            "SELECT max(data_to), count(*) FROM run_ledger WHERE source = ? AND dry_run = 0",
            (source,),
        ).fetchone()
        if not runs:
            continue
        if newest is None:
            stale = True
            detail = f"数据源 {source} 尚无任何数据（已运行 {runs} 次）"
        else:
            age = (ctx.now.timestamp() - newest) / 3600
            stale = age > rule.hours
            detail = (
                f"数据源 {source} 最新数据 {ctx.local(newest)}，已 {age:.0f} 小时无新数据"
                f"（阈值 {rule.hours:g} 小时）"
                if stale
                else f"数据源 {source} 最新数据 {ctx.local(newest)}"
            )
        out.append(Finding(source, source, "source", stale, stale, detail, None))
    return out


def _run_failed(rule: AlertRule, ctx: RuleContext) -> list[Finding]:
    mark = ctx.cursors.get((rule.id, ""))
    if mark is None:
        top = ctx.conn.execute("SELECT max(id) FROM run_ledger").fetchone()[0] or 0
        since = max(0, top - FIRST_RUNS)
    else:
        since = int(mark)
    wanted = set(_sources(rule, ctx, scheduled_only=False))
    rows = ctx.conn.execute(
        "SELECT id, source, status, error, finished_at, new, rejected FROM run_ledger "
        "WHERE id > ? AND dry_run = 0 AND status != 'running' ORDER BY id",
        (since,),
    ).fetchall()
    by_source: dict[str, list[tuple[int, str, str, str | None, str | None, int, int]]] = {}
    for row in rows:
        if row[1] in wanted:
            by_source.setdefault(row[1], []).append(row)
    out = []
    last_id = max((r[0] for r in rows), default=None)
    for source, runs in by_source.items():
        bad = [r for r in runs if r[2] in ("failed", "partial")]
        last = runs[-1]
        if bad:
            r = bad[-1]
            status = "失败" if r[2] == "failed" else "部分失败"
            detail = f"数据源 {source} 第 {r[0]} 次运行{status}（{r[2]}）"
            if r[2] == "partial":
                detail += f"，新增 {r[5]} 条，拒收 {r[6]} 条"
            if r[3]:
                detail += f"：{r[3][:300]}"
            if len(bad) > 1:
                detail += f"；新运行中 {len(bad)} 次失败"
        else:
            detail = f"数据源 {source} 第 {last[0]} 次运行正常（{last[2]}）"
        out.append(
            Finding(
                source, source, "source", bool(bad), last[2] in ("failed", "partial"), detail, None
            )
        )
    if last_id is not None:
        ctx.cursors[(rule.id, "")] = str(last_id)
    return out


_KINDS: dict[str, Callable[[AlertRule, RuleContext], list[Finding]]] = {
    "air_hourly_aqi": _air_hourly_aqi,
    "air_daily_category": _air_daily_category,
    "water_below_target": _water_below_target,
    "outfall_violation": _outfall_violation,
    "zone_overdue": _zone_overdue,
    "source_stale": _source_stale,
    "run_failed": _run_failed,
}
