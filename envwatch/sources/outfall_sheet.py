"""Read a staff sheet of outfall (排口) inspections into canonical observations.

污水零直排区 2.0 asks that outfalls do not discharge on dry days (晴天不排水) and that what they
discharge on rainy days is not sewage (雨天无污水). Inspectors visit outfalls and write one row
per visit. Columns (English key or any Chinese name; a unit in brackets allowed):

=====================  ==========================================================================
``outfall``            排口 / 排口编号 / 排口名称: the outfall's id or name in the registry
                       (`known_sites`, matched on site_id first, then name); with both an
                       编号 and a 名称 column the 编号 is tried first
``inspected_at``       巡查时间 / 检查时间 / 巡检时间 / 监测时间: local date and time; or a
                       日期 / 巡查日期 column (date) with the time in 巡查时间 (``09:30``);
                       a date alone is local 00:00 of that day
``weather``            天气: 晴 / 阴 / 多云 / dry -> dry; anything with 雨 (小雨, 中雨, 大雨,
                       暴雨, 阵雨, 晴转小雨 ...) / rain -> rain; optional
``discharging``        是否排水 / 排水 / 排水情况: 是/否, 有/无, yes/no, 1/0
``flow``               流量 / 排水量: m³/h; ``(m³/d)`` (÷ 24), ``(L/s)`` (× 3.6), ``(t/h)``,
                       ``(t/d)``, ``(m³/s)``, ``(L/min)`` are converted
``nh3n``, ``cod``,     氨氮, 化学需氧量 (COD, CODcr), 总磷: mg/L; ``(µg/L)`` is converted.
``tp``                 Below detection ``0.05L``, ``<0.05``, ``ND(0.05)``: half the limit,
                       flag ``below_detection``
``zone``               所属零直排区 / 所属区域 / 所属园区 (outfalls added with add_sites)
``receiving_water``    受纳水体 / 排入水体
``outfall_type``       排口类型: 雨水 / 雨水排口 / rain -> ``rain``; 污水 / sewage ->
                       ``sewage``; 雨污合流 / 混接 / combined -> ``combined``; required for an
                       outfall added with add_sites (in at least one of its rows)
``lon``, ``lat``       经度, 纬度: WGS-84 decimal degrees (or 121°42′30″)
``note``               备注 / 说明 / 整改情况: ignored; also ignored: 序号, 巡查人, 所属镇街
=====================  ==========================================================================

Observations: ``site_id``, ``parameter`` (``rain``: 1 rain, 0 dry, unit ``1``; ``discharging``:
1 or 0, unit ``1``; ``flow`` in ``m³/h``; ``nh3n``, ``cod``, ``tp`` in ``mg/L``), averaging
``inspection``, ``period_end`` = the inspection instant in UTC, ``value``, ``unit``, ``flag``.

Rejects (the good rows and cells still land): an unknown outfall (with a "did you mean", unless
add_sites), a missing or unreadable time, a time more than an hour after `now`, a second row for
the same outfall and time ("duplicate of row N"), an unknown weather or yes/no word, a value
that is not a number, a unit that does not convert (per cell, naming the column and the unit),
a flow on a row that says it is not discharging, and a row with nothing recorded.

`Reading.sites` has one row per outfall with rows that landed: ``site_id``, ``name``, ``new``
(True when added here, with add_sites; its id is the text as written), and what the sheet says
of it: ``zone``, ``receiving_water``, ``outfall_type``, ``lon``, ``lat`` (None when not given).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from envwatch.sources import sheet
from envwatch.sources import sites as site_rules
from envwatch.sources.base import Reading, Reject
from envwatch.sources.sheet import IGNORED, BadCell, Row, Sheet
from envwatch.sources.sites import Resolved, SiteRegistry, resolve, resolve_rows

__all__ = ["COLUMNS", "FLOW_UNITS", "CONCENTRATION_UNITS", "SITE_COLUMNS", "read"]

KIND = "outfall sheet"

COLUMNS: dict[str, list[str]] = {
    "outfall": ["排口", "排污口", "排放口", "site", "site_id", "点位"],
    "outfall_id": ["排口编号", "排口代码", "排污口编号", "排放口编号", "编号", "id"],
    "outfall_name": ["排口名称", "排污口名称", "排放口名称", "名称", "name"],
    "inspected_at": [
        "巡查时间",
        "检查时间",
        "巡检时间",
        "监测时间",
        "采样时间",
        "时间",
        "time",
        "datetime",
    ],
    "inspected_on": ["日期", "巡查日期", "检查日期", "巡检日期", "监测日期", "采样日期", "date"],
    "weather": ["天气", "天气情况", "天气状况"],
    "discharging": [
        "是否排水",
        "排水",
        "排水情况",
        "是否出水",
        "出水情况",
        "有无排水",
        "discharge",
    ],
    "flow": ["流量", "排水流量", "瞬时流量", "排水量"],
    "nh3n": ["氨氮", "nh3-n", "nh3_n"],
    "cod": ["化学需氧量", "cod", "codcr", "cod_cr", "cod-cr"],
    "tp": ["总磷"],
    "zone": ["所属零直排区", "所属区域", "所属园区", "零直排区", "区域"],
    "receiving_water": ["受纳水体", "排入水体", "受纳河道", "受纳河流"],
    "outfall_type": ["排口类型", "排口类别", "排污口类型", "类型", "type"],
    "lon": ["经度", "longitude", "lng"],
    "lat": ["纬度", "latitude"],
    IGNORED: ["问题描述", "整改情况", "处理情况", "所属镇街", "镇街", "所属街道", "巡查单位"],
}
"""Canonical column -> the names staff may give it (matched ignoring case, width and spaces)."""

_LOOKUP = sheet.aliases(COLUMNS)
_IDENTITY = ("outfall", "outfall_id", "outfall_name")
_WHEN = ("inspected_at", "inspected_on")

FLOW_UNITS: dict[str, float] = sheet.UNITS["m³/h"]
"""Flow units (in `sheet.unit_key` form) -> factor to m³/h (from the one unit table)."""

CONCENTRATION_UNITS: dict[str, float] = sheet.UNITS["mg/L"]
"""Concentration units (in `sheet.unit_key` form) -> factor to mg/L (from the one unit table)."""

_MEASURES = {
    "flow": ("m³/h", FLOW_UNITS, "m³/h, m³/d or L/s"),
    "nh3n": ("mg/L", CONCENTRATION_UNITS, "mg/L or µg/L"),
    "cod": ("mg/L", CONCENTRATION_UNITS, "mg/L or µg/L"),
    "tp": ("mg/L", CONCENTRATION_UNITS, "mg/L or µg/L"),
}

_DRY = {
    "晴",
    "阴",
    "多云",
    "少云",
    "晴天",
    "阴天",
    "晴好",
    "无雨",
    "dry",
    "sunny",
    "cloudy",
    "overcast",
    "fine",
    "clear",
}
_RAIN = {"rain", "rainy", "wet", "shower", "showers", "drizzle", "storm", "雨天"}
_YES = {
    "是",
    "有",
    "yes",
    "y",
    "true",
    "1",
    "排水",
    "有排水",
    "正在排水",
    "在排水",
    "出水",
    "有出水",
}
_NO = {
    "否",
    "无",
    "no",
    "n",
    "false",
    "0",
    "不排水",
    "未排水",
    "无排水",
    "未出水",
    "无出水",
    "没有",
    "干",
}
_YES |= {"√", "✓"}
_NO |= {"×", "✗"}
_TYPES = {
    "雨水": "rain",
    "雨排": "rain",
    "雨水口": "rain",
    "rain": "rain",
    "stormwater": "rain",
    "storm": "rain",
    "污水": "sewage",
    "污排": "sewage",
    "生活污水": "sewage",
    "工业污水": "sewage",
    "工业废水": "sewage",
    "废水": "sewage",
    "尾水": "sewage",
    "sewage": "sewage",
    "wastewater": "sewage",
    "雨污合流": "combined",
    "合流": "combined",
    "合流制": "combined",
    "混接": "combined",
    "雨污混接": "combined",
    "combined": "combined",
}
_TYPE_SUFFIX = re.compile(r"(排放口|排污口|排口|outfall)$")

SITE_COLUMNS = ["site_id", "name", "new", "zone", "receiving_water", "outfall_type", "lon", "lat"]


LAYOUT = sheet.Layout(
    KIND,
    _LOOKUP,
    required=[_IDENTITY, _WHEN],
    wanted="an outfall (排口名称 or 排口编号) and an inspected_at (巡查时间 or 日期) column",
)


def read(
    payload: bytes,
    *,
    name: str,
    known_sites: pd.DataFrame,
    add_sites: bool = False,
    tz: str = "Asia/Shanghai",
    now: datetime,
) -> Reading:
    """Parse an outfall inspection sheet (CSV or XLSX bytes); see the module docstring.

    `known_sites`: the registry with ``site_id`` (or ``id``) and ``name`` columns (if it has a
    ``kind`` column, only ``outfall`` sites are matched; an ``outfall_type`` column is checked
    against the sheet's). `name` is the file name, for messages. `now` (aware) bounds the
    inspection times: a time more than an hour after it is rejected.
    """
    now = sheet.check_now(now)
    zone = ZoneInfo(tz)
    table = sheet.read_sheet(payload, LAYOUT, name=name)
    registry = SiteRegistry(known_sites, "outfall")
    types = registry.column("outfall_type")
    rejects = list(table.rejects)

    # First pass: which outfall each row is, and the type of outfalls added here.
    resolved, new_types = resolve_rows(
        table.rows,
        lambda row: _identify(table, row, registry, add_sites),
        lambda row: _TYPES.get(_type_key(table.text(row, "outfall_type"))),
        rejects,
    )

    # Second pass: each row's time and values, once per outfall and time.
    rules = site_rules.RowRules(
        time_of=lambda row, reject: _inspection_time(table, row, zone, now, reject),
        untyped=lambda site_id: _needs_type(table, site_id),
        duplicate=lambda first: (
            f"duplicate of row {first} (same outfall and inspection time); the first was kept"
        ),
    )
    records: list[tuple[str, str, datetime, float, str, str]] = []
    sites: dict[str, dict[str, Any]] = {}
    rows = site_rules.timed_rows(table, resolved, new_types, rejects, rules)
    for row, found, reject, when in rows:
        site_id, is_new = found.site_id, found.new
        stamp = when.isoformat()
        site = sites.setdefault(
            site_id,
            {
                "site_id": site_id,
                "name": found.name,
                "new": is_new,
                "outfall_type": new_types.get(site_id),
            },
        )
        for key in ("zone", "receiving_water"):
            if site.get(key) is None and table.text(row, key):
                site[key] = table.text(row, key)
        expected = new_types.get(site_id) or types.get(site_id)
        _check_type(table, row, site, expected, is_new, reject)
        _locate_site(table, row, site, reject)
        before = len(records) + len(rejects)
        for key, (value, flag, unit) in _row_values(table, row, reject, stamp).items():
            records.append((site_id, key, when, value, unit, flag))
        if len(records) + len(rejects) == before:
            reject(
                "nothing recorded: fill in the weather (天气), whether it was discharging "
                "(是否排水), the flow or a concentration",
                period_end=stamp,
            )

    return site_rules.sited_reading(records, "inspection", rejects, sites.values(), SITE_COLUMNS)


def _check_type(
    table: Sheet,
    row: Row,
    site: dict[str, Any],
    expected: str | None,
    is_new: bool,
    reject: sheet.RowRejects,
) -> None:
    """Check the row's outfall type against the registry's or an earlier row's."""
    type_text = table.text(row, "outfall_type")
    if not type_text:
        return
    outfall_type = _TYPES.get(_type_key(type_text))
    if outfall_type is None:
        reject(
            f"outfall type {type_text!r} is not 雨水/污水/雨污合流 (rain/sewage/combined)",
            "outfall_type",
            type_text,
        )
    elif expected is not None and outfall_type != expected:
        where = "an earlier row" if is_new else "the site registry"
        reject(
            f"outfall type {type_text!r} disagrees with {expected!r} in {where}; "
            f"{expected!r} is used",
            "outfall_type",
            type_text,
        )
    elif site.get("outfall_type") is None:
        site["outfall_type"] = outfall_type


def _locate_site(table: Sheet, row: Row, site: dict[str, Any], reject: sheet.RowRejects) -> None:
    """Keep the first coordinates the sheet gives for the outfall."""
    try:
        point = sheet.coordinates(table.get(row, "lon"), table.get(row, "lat"))
    except BadCell as bad:
        reject(str(bad), "lon", f"{table.text(row, 'lon')}, {table.text(row, 'lat')}")
        return
    if point is not None and site.get("lon") is None:
        site["lon"], site["lat"] = point


def _row_values(
    table: Sheet, row: Row, reject: sheet.RowRejects, stamp: str
) -> dict[str, tuple[float, str, str]]:
    """The row's weather, discharging, flow and concentrations: key -> (value, flag, unit)."""
    values: dict[str, tuple[float, str, str]] = {}
    for key, (parse, unit) in {
        "rain": (_weather, "1"),
        "discharging": (_yes_no, "1"),
    }.items():
        column = "weather" if key == "rain" else key
        cell = table.text(row, column)
        if not cell:
            continue
        flag_value = parse(cell)
        if flag_value is None:
            reject(_word_problem(table, column, cell), column, cell, parameter=key)
            continue
        values[key] = (float(flag_value), "", unit)
    for key, (unit, units, usual) in _MEASURES.items():
        raw = table.get(row, key)
        try:
            got = _measure(raw, table, key, unit, units, usual)
        except BadCell as bad:
            reject(str(bad), key, sheet.text(raw), parameter=key, period_end=stamp)
            continue
        if got is not None:
            values[key] = got
    if "flow" in values and values["flow"][0] > 0 and values.get("discharging", (1.0,))[0] == 0:
        reject(
            f"{table.title('flow')} is {sheet.text(table.get(row, 'flow'))} but "
            f"{table.title('discharging')} says it is not discharging; correct one of them",
            "flow",
            sheet.text(table.get(row, "flow")),
            parameter="flow",
            period_end=stamp,
        )
        del values["flow"]
    return values


def _identify(table: Sheet, row: Row, registry: SiteRegistry, add_sites: bool) -> Resolved | Reject:
    """The row's outfall, or the Reject saying why not."""
    written = table.text(row, "outfall_id") or table.text(row, "outfall")
    name = table.text(row, "outfall_name")
    key = next(k for k in _IDENTITY if table.has(k))
    if not written and not name:
        return Reject(
            location=table.where(row, key),
            reason="no outfall; write the outfall's id or name (排口编号 or 排口名称)",
            raw=table.raw(row),
        )
    found = resolve(registry, [written, name], noun="outfall", add_sites=add_sites, name=name)
    if isinstance(found, str):
        return Reject(location=table.where(row, key), reason=found, raw=written or name)
    return found


def _needs_type(table: Sheet, site_id: str) -> str:
    if not table.has("outfall_type"):
        return (
            f"new outfall {site_id!r} needs an outfall type: add a 排口类型 (outfall_type) column "
            "with 雨水/污水/雨污合流; row skipped"
        )
    return (
        f"new outfall {site_id!r} needs an outfall type: fill {table.title('outfall_type')} "
        "(雨水/污水/雨污合流) in at least one of its rows; row skipped"
    )


def _inspected(table: Sheet, row: Row, zone: ZoneInfo) -> tuple[str, datetime | str]:
    """(column, UTC instant) of the inspection, or (column, what is wrong)."""
    at, on = table.get(row, "inspected_at"), table.get(row, "inspected_on")
    if sheet.is_missing(at) and sheet.is_missing(on):
        key = "inspected_at" if table.has("inspected_at") else "inspected_on"
        return key, "no inspection time; write the date, e.g. 2026-08-03 09:30"
    try:
        if not sheet.is_missing(on) and (sheet.is_missing(at) or sheet.is_time_of_day(at)):
            return "inspected_on", sheet.local_instant(on, zone, time_of_day=at)
        return "inspected_at", sheet.local_instant(at, zone)
    except BadCell as bad:
        key = "inspected_on" if not sheet.is_missing(on) else "inspected_at"
        return key, str(bad)


def _inspection_time(
    table: Sheet, row: Row, zone: ZoneInfo, now: datetime, reject: sheet.RowRejects
) -> datetime | None:
    """The inspection instant (UTC); None, after a reject, when missing, bad or in the future."""
    when_key, when = _inspected(table, row, zone)
    if isinstance(when, str):
        reject(f"{when}; row skipped", when_key, table.text(row, when_key))
        return None
    if sheet.future_instant(when, now):
        local = when.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        reject(
            f"inspection time {local} is in the future; check the date (row skipped)",
            when_key,
            table.text(row, when_key),
        )
        return None
    return when


def _type_key(text: str) -> str:
    return _TYPE_SUFFIX.sub("", sheet.squash(text)) or sheet.squash(text)


def _weather(text: str) -> int | None:
    """1 for rain, 0 for dry, None when the word is not understood."""
    key = sheet.squash(text)
    if key in _DRY:
        return 0
    if key in _RAIN or ("雨" in key and "无雨" not in key and "未下雨" not in key):
        return 1
    parts = [p for p in re.split(r"转|到|~|/|,|、|-", key) if p]
    if parts and all(p in _DRY for p in parts):
        return 0
    return None


def _yes_no(text: str) -> int | None:
    key = sheet.squash(text)
    return 1 if key in _YES else 0 if key in _NO else None


def _word_problem(table: Sheet, column: str, cell: str) -> str:
    title = table.title(column)
    if column == "weather":
        return f"{title} {cell!r} is neither dry (晴/阴/多云) nor rain (雨/小雨/中雨/大雨)"
    return f"{title} {cell!r} is not 是/否 (yes/no)"


def _measure(
    raw: Any, table: Sheet, key: str, unit: str, units: dict[str, float], usual: str
) -> tuple[float, str, str] | None:
    """(value in `unit`, flag, unit) of a flow or concentration cell; None when empty."""
    got = sheet.measured(raw, below_detection=key != "flow")
    if got is None:
        return None
    value, flag, cell_unit = got
    written = cell_unit or table.unit(key)
    factor = units.get(sheet.unit_key(written)) if written else 1.0
    if factor is None:
        raise BadCell(
            f"{table.title(key)}: unit {written!r} does not convert to {unit}; write the value "
            f"in {usual}"
        )
    if value < 0:
        raise BadCell(f"{table.title(key)} cannot be negative; check the value")
    return value * factor, flag, unit
