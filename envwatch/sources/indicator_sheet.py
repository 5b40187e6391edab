"""Read a staff sheet of zero-waste city (无废城市) indicator values into observations.

One row per indicator and period. Columns (English key or any Chinese name):

===============  ================================================================================
``indicator``    指标 / 指标名称 / 指标项 / 指标编号: an id, name or alias of the configured
                 indicators (`indicators`); an unknown one is rejected with a "did you mean"
``period``       期间 / 统计期 / 统计期间 / 时间 / 年份: ``2026`` / ``2026年`` (year),
                 ``2026-Q3`` / ``2026Q3`` / ``2026年第三季度`` / ``2026年3季度`` (quarter),
                 ``2026-09`` / ``2026/9`` / ``2026年9月`` / an Excel date on the 1st (month);
                 ``2026年1-9月`` is the year to date (averaging ``year``, flag ``provisional``)
``value``        数值 / 值 / 指标值 / 完成值 / 实际值: a number, with its unit in the header
                 (``数值(%)``) or in the cell (``98.5%``) if wished
``unit``         单位, optional: the value's unit; default: the header's unit, else the
                 indicator's own unit
``district``     区县 / 地区 / 行政区, optional: a row for another district is rejected
``note``         备注 / 说明 / 数据来源 / 目标值: ignored (goals live in stations.yaml)
===============  ================================================================================

Units are converted to the indicator's unit: ``%`` and ``‰`` (÷ 10); 吨 / t, 万吨 (× 10 000),
kg / 千克 / 公斤 (÷ 1 000); counts 个 / 处 / 家 / 座 / 项 / 件 / 所 are one unit. A unit that does
not convert to the indicator's unit is rejected naming both.

Observations: ``site_id`` = `district`, ``parameter`` = the indicator id, ``averaging`` =
``year``, ``quarter`` or ``month``, ``period_end`` = the UTC instant of local midnight (`tz`) at
the start of the next period (2026 -> 2027-01-01 00:00 +08:00 = 2026-12-31T16:00Z), ``value`` in
the indicator's unit, ``unit`` = the indicator's unit, ``flag`` = ``''``, or ``provisional`` for a
period that has not ended at `now` (a year-to-date value) or a year-to-date span (``1-9月``).
A period that starts after `now` is rejected, as is a second row for the same indicator and
period ("duplicate of row N").

`Reading.sites` has the one site the observations name: ``site_id`` = ``name`` = `district`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from envwatch.sources import sheet
from envwatch.sources.base import Reading
from envwatch.sources.sheet import IGNORED, BadCell, Row, Sheet

__all__ = ["COLUMNS", "UNITS", "convert", "read"]

KIND = "indicator sheet"

COLUMNS: dict[str, list[str]] = {
    "indicator": ["指标", "指标名称", "指标项", "指标编号", "指标代码", "项目", "id", "name"],
    "period": ["期间", "统计期", "统计期间", "统计周期", "时间", "年份", "年度", "期别", "月份"],
    "value": ["数值", "值", "指标值", "完成值", "实际值", "完成情况", "数据"],
    "unit": ["单位", "计量单位"],
    "district": ["区县", "地区", "行政区", "区县市", "区域"],
    IGNORED: ["数据来源", "来源", "source", "目标值", "目标", "填报单位", "责任单位", "牵头单位"],
}
"""Canonical column -> the names staff may give it (matched ignoring case, width and spaces)."""

_LOOKUP = sheet.aliases(COLUMNS)

UNITS: dict[str, tuple[str, float]] = {
    "%": ("ratio", 1.0),
    "百分比": ("ratio", 1.0),
    "‰": ("ratio", 0.1),
    "千分比": ("ratio", 0.1),
    "吨": ("mass", 1.0),
    "t": ("mass", 1.0),
    "万吨": ("mass", 1e4),
    "万t": ("mass", 1e4),
    "kg": ("mass", 1e-3),
    "千克": ("mass", 1e-3),
    "公斤": ("mass", 1e-3),
    "个": ("count", 1.0),
    "处": ("count", 1.0),
    "家": ("count", 1.0),
    "座": ("count", 1.0),
    "项": ("count", 1.0),
    "件": ("count", 1.0),
    "所": ("count", 1.0),
}
"""Units (in `sheet.unit_key` form) -> (dimension, factor to the dimension's base unit)."""

_CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_YEAR = re.compile(r"^(\d{4})(?:年|年度|全年|年全年)?$")
_QUARTER = re.compile(r"^(\d{4})(?:[-/.]?q([1-4])|年?第?([一二三四1-4])季度?)$")
_Q_FIRST = re.compile(r"^q([1-4])[-/.]?(\d{4})$")
_MONTH = re.compile(r"^(\d{4})(?:[-/.](\d{1,2})|年(\d{1,2})月份?|(\d{2}))$")
_SPAN = re.compile(r"^(\d{4})年?(\d{1,2})[-~至到](\d{1,2})月份?$")


@dataclass(frozen=True)
class _Period:
    averaging: str  # year, quarter, month
    start: date
    end: date  # exclusive: the first day of the next period
    partial: bool  # a year-to-date span such as 1-9月


LAYOUT = sheet.Layout(
    KIND,
    _LOOKUP,
    required=[("indicator",), ("period",), ("value",)],
    wanted="an indicator (指标), a period (统计期) and a value (数值) column",
)


def read(
    payload: bytes,
    *,
    name: str,
    indicators: pd.DataFrame | Sequence[Mapping[str, Any]],
    district: str,
    tz: str = "Asia/Shanghai",
    now: datetime,
) -> Reading:
    """Parse an indicator sheet (CSV or XLSX bytes); see the module docstring.

    `indicators`: one row per indicator with ``id``, ``name``, ``unit`` and ``aliases`` (a list
    of str, a ``;``/``,``-separated string, or empty); a list of mappings (the config's
    entries) works as well. `district` is the site the values belong to. `now` is aware.
    """
    now = sheet.check_now(now)
    zone = ZoneInfo(tz)
    known = _Indicators(indicators)
    table = sheet.read_sheet(payload, LAYOUT, name=name)
    rejects = list(table.rejects)
    records: list[tuple[str, str, datetime, float, str, str]] = []
    averagings: list[str] = []
    seen: dict[tuple[str, str, datetime], int] = {}
    for row in table.rows:
        reject = sheet.RowRejects(table, row, rejects, district)
        other = table.text(row, "district")
        if other and not _same_place(other, district):
            reject(
                f"this row is for {other!r}, the sheet is loaded for {district!r}; load it for "
                f"that district or remove the row",
                "district",
            )
            continue
        ident, problem = _indicator(table.text(row, "indicator"), known)
        if ident is None:
            reject(problem, "indicator")
            continue
        target_unit = known.units[ident]
        try:
            period = _period(table.get(row, "period"))
        except BadCell as bad:
            reject(f"{table.title('period')}: {bad}; row skipped", "period", parameter=ident)
            continue
        start = datetime.combine(period.start, time(), zone)
        end = datetime.combine(period.end, time(), zone).astimezone(UTC)
        if sheet.future_instant(start, now):
            reject(
                f"the period {table.text(row, 'period')!r} has not started yet "
                f"(it starts {period.start.isoformat()}); check the year",
                "period",
                parameter=ident,
            )
            continue
        key = (ident, period.averaging, end)
        if key in seen:
            reject(
                f"duplicate of row {seen[key]} (same indicator and period); the first was kept",
                parameter=ident,
                period_end=end.isoformat(),
            )
            continue
        try:
            value = _value(table, row, target_unit)
        except BadCell as bad:
            reject(str(bad), "value", parameter=ident, period_end=end.isoformat())
            continue
        if value is None:
            reject(
                f"no value; fill {table.title('value')} or remove the row",
                "value",
                parameter=ident,
                period_end=end.isoformat(),
            )
            continue
        seen[key] = row.number
        flag = "provisional" if period.partial or end > now else ""
        records.append((district, ident, end, value, target_unit, flag))
        averagings.append(period.averaging)

    return Reading(
        observations=sheet.observations(records, averagings),
        rejects=sorted(rejects, key=sheet.sheet_order),
        sites=pd.DataFrame({"site_id": [district], "name": [district]}, dtype=object),
    )


def _indicator(written: str, known: _Indicators) -> tuple[str | None, str]:
    """(id, '') of the indicator `written` names, or (None, the reason it names none)."""
    hits = known.lookup.find(written) if written else []
    if len(hits) == 1:
        return hits[0], ""
    if not written:
        return None, "no indicator; write the indicator's name (指标名称)"
    if hits:
        return None, f"{written!r} names {len(hits)} indicators ({', '.join(hits)}); write the id"
    return None, (
        f"unknown indicator {written!r}{known.lookup.hint(written) or '.'} Fix the "
        "name or add the indicator to stations.yaml (indicators)"
    )


class _Indicators:
    """The configured indicators: ids, units and a lookup by id, name or alias."""

    def __init__(self, table: pd.DataFrame | Sequence[Mapping[str, Any]]) -> None:
        frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(list(table))
        missing = {"id", "name", "unit"} - set(frame.columns)
        if missing:
            raise ValueError(f"indicators need columns id, name, unit (missing {sorted(missing)})")
        self.units: dict[str, str] = {}
        entries = []
        aliases = frame["aliases"] if "aliases" in frame.columns else [None] * len(frame)
        for ident, label, unit, extra in zip(
            frame["id"], frame["name"], frame["unit"], aliases, strict=True
        ):
            ident, label = str(ident), str(label)
            self.units[ident] = "" if sheet.is_missing(unit) else str(unit)
            entries.append((ident, f"{label} ({ident})", [ident, label, *sheet.words(extra)]))
        self.lookup = sheet.Lookup(entries)


def _same_place(written: str, district: str) -> bool:
    a, b = sheet.squash(written), sheet.squash(district)
    return a == b or a == b.rstrip("区县市") or a.rstrip("区县市") == b


def _period(value: Any) -> _Period:
    """The period a cell names; raises `BadCell` saying how to write one."""
    if isinstance(value, datetime | date):
        day = value.date() if isinstance(value, datetime) else value
        if day.day != 1:
            raise BadCell(
                f"{day.isoformat()} is a day, not a period; write 2026, 2026-Q3 or 2026-09"
            )
        return _month(day.year, day.month)
    t = sheet.squash(value)
    if not t:
        raise BadCell("no period; write 2026, 2026-Q3 or 2026-09")
    if m := _YEAR.match(t):
        year = int(m.group(1))
        return _Period("year", date(year, 1, 1), date(year + 1, 1, 1), False)
    m = _QUARTER.match(t)
    m2 = _Q_FIRST.match(t)
    if m or m2:
        if m:
            year, q = int(m.group(1)), _CHINESE_DIGITS[m.group(2) or m.group(3)]
        else:
            assert m2 is not None
            year, q = int(m2.group(2)), int(m2.group(1))
        start = date(year, 3 * q - 2, 1)
        end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
        return _Period("quarter", start, end, False)
    if m := _MONTH.match(t):
        month = int(next(g for g in m.groups()[1:] if g))
        return _month(int(m.group(1)), month)
    if m := _SPAN.match(t):
        year, first, last = (int(g) for g in m.groups())
        if first == 1 and 1 <= last <= 12:
            return _Period("year", date(year, 1, 1), date(year + 1, 1, 1), last < 12)
        raise BadCell(
            f"{sheet.text(value)!r} is not a year to date; only spans from January (1-9月) "
            "are understood"
        )
    raise BadCell(
        f"{sheet.text(value)!r} is not a period; write 2026 (year), 2026-Q3 (quarter) or "
        "2026-09 (month)"
    )


def _month(year: int, month: int) -> _Period:
    if not 1 <= month <= 12:
        raise BadCell(f"month {month} does not exist; write 2026-09")
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return _Period("month", date(year, month, 1), end, False)


def _value(table: Sheet, row: Row, target_unit: str) -> float | None:
    """The row's value in `target_unit`; None when empty; raises `BadCell`."""
    got = sheet.measured(table.get(row, "value"), below_detection=False)
    if got is None:
        return None
    value, _, cell_unit = got
    unit = cell_unit or table.text(row, "unit") or table.unit("value") or target_unit
    return convert(value, unit, target_unit)


def convert(value: float, unit: str, target: str) -> float:
    """`value` in `unit` expressed in `target` (see `UNITS`); raises `BadCell` naming both."""
    a, b = sheet.unit_key(unit), sheet.unit_key(target)
    if a == b or not a and not b:
        return value
    if a in UNITS and b in UNITS and UNITS[a][0] == UNITS[b][0]:
        return value * UNITS[a][1] / UNITS[b][1]
    raise BadCell(
        f"unit {unit!r} does not convert to the indicator's unit {target!r}; write the value "
        f"in {target or 'the indicator unit'}"
    )
