"""Read an hourly air export of a provincial or municipal platform (CSV or XLSX).

Platforms below the national network (省控, 市控, 区控 stations) export one row per station and
hour. The table is read by `sheet.read_sheet` like every staff sheet (format by content; CSV in
UTF-8 with or without a BOM, GBK or UTF-16; header among the first rows; row numbers as in
Excel; the shared not-given marks, number parser, size limits and China box). Columns (English
key or any Chinese name; a unit in brackets allowed):

====================  ===========================================================================
``station_code``      站点编码 / 点位编码 / 站点代码 / 监测点编码: the station's code
``station_name``      站点名称 / 点位名称 / 监测点位 / 站点: its name. At least one of the two;
                      both are matched against the registry's air stations (code first)
``time``              监测时间 / 时间 / 数据时间: local date and hour, hour-ending
                      (``2019-04-01 01:00`` is the hour 00:00-01:00); ``2019/4/1 1:00``, Excel
                      date-times, and the day's last hour as ``24:00`` of D or ``00:00`` of D+1
``date`` + ``hour``   日期 + 小时 / 时次, instead of ``time``: the hour 1-24, hour-ending
                      (``24`` is the hour ending at 00:00 of the next day); ``0`` is refused
``pm25`` ``pm10``     PM2.5, PM10, SO2, NO2, O3 (1-hour values) in µg/m³, CO in mg/m³; a unit in
``so2`` ``no2``       brackets converts: ``CO(μg/m³)`` ÷ 1000, ``PM2.5(mg/m³)`` × 1000
``co`` ``o3``
``<code>_flag``       PM2.5标识 / PM2.5标志 / PM2.5_flag ...: the platform's data flag for that
                      value. Empty, ``N``, ``正常`` or ``有效`` is a plain value; any other flag
                      (``H``, ``BB``, ``M``, ``无效`` ...) keeps the value with flag
                      ``flagged:<flag>`` and the value is not used for AQI or means
``lon``, ``lat``      经度 / 纬度 (decimal degrees or 121°42′30″), with ``crs`` 坐标系: WGS-84
                      (default; also GPS, 天地图), GCJ-02 (高德, 腾讯) or BD-09 (百度), converted
                      to WGS-84 once; read for stations added with add_sites
``control_level``     控制级别 / 站点级别: 国控 / 省控 / 市控 / 区控; a station added without one
                      is 省控 (`DEFAULT_LEVEL`), never taken for a national station
``district``          所属区县 / 区县: optional; the district is found from the coordinates, this
                      one is reported as ``district_stated`` (see `sites.district_disagreements`)
====================  ===========================================================================

Ignored: AQI, 首要污染物, 空气质量等级/类别, 城市, O3_8h (8-hour values are derived here from
the hours, HJ 663), 备注, 序号.

Observations: ``site_id``, ``parameter`` (``pm25 pm10 so2 no2 co o3``), averaging ``1h``,
``period_end`` = the hour's end in UTC (hour-ending, as the CNEMC readers), ``value`` (µg/m³, CO
mg/m³), ``unit``, ``flag``.

Rejects (the good rows and cells still land): no station, an unknown station without add_sites
(with a "did you mean"); a station added with add_sites that has no coordinates in any row; a
row naming a national station (国控 in the registry, from the national feed, or a CNEMC code such
as ``1234A``) while its 控制级别 says 省控/市控/区控 (a provincial station must have its own code);
no time, a time that is not a date and hour, an hour outside 1-24 or not on the hour, an hour
more than an hour after `now`; two rows for the same station and hour with different values
(both are named and neither is used; identical repeats are read once); a value that is not a
number, negative, or with a decimal comma; CO above `CO_MG_MAX` mg/m³ under a mg/m³ header
(it looks like µg/m³); a unit that does not convert.

`Reading.sites` has one row per station with rows that landed: ``site_id``, ``name``, ``new``,
``lon``, ``lat`` (WGS-84), ``crs_source``, ``control_level``, ``district_stated``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from envwatch.sources import sheet
from envwatch.sources.base import Reading, Reject
from envwatch.sources.sheet import IGNORED, BadCell, Row, RowRejects, Sheet
from envwatch.sources.sites import SiteRegistry, resolve, sited_reading

__all__ = ["CO_MG_MAX", "COLUMNS", "DEFAULT_LEVEL", "POLLUTANTS", "SITE_COLUMNS", "read"]

KIND = "air sheet"

POLLUTANTS: dict[str, tuple[str, list[str]]] = {
    "pm25": ("µg/m³", ["PM2.5", "pm2_5", "PM₂.₅", "细颗粒物"]),
    "pm10": ("µg/m³", ["PM10", "可吸入颗粒物"]),
    "so2": ("µg/m³", ["SO2", "SO₂", "二氧化硫"]),
    "no2": ("µg/m³", ["NO2", "NO₂", "二氧化氮"]),
    "co": ("mg/m³", ["CO", "一氧化碳"]),
    "o3": ("µg/m³", ["O3", "O₃", "臭氧", "O3_1h", "O3-1h", "O3(1h)", "臭氧1小时"]),
}
"""Pollutant code -> (canonical unit, names in a header)."""

_FLAG_SUFFIXES = ("标识", "标志", "标记", "状态", "_flag", "flag", "-flag", "数据标识")

COLUMNS: dict[str, list[str]] = {
    "station_code": ["站点编码", "点位编码", "站点代码", "点位代码", "监测点编码", "站号", "code"],
    "station_name": ["站点名称", "点位名称", "监测点位", "监测点名称", "站点", "点位", "station"],
    "time": ["监测时间", "时间", "数据时间", "日期时间", "datetime"],
    "date": ["日期", "监测日期", "date"],
    "hour": ["小时", "时次", "时段", "hour"],
    **{code: names for code, (_, names) in POLLUTANTS.items()},
    **{
        f"{code}_flag": [f"{n}{s}" for n in names for s in _FLAG_SUFFIXES]
        for code, (_, names) in POLLUTANTS.items()
    },
    "lon": ["经度", "longitude", "lng"],
    "lat": ["纬度", "latitude"],
    "crs": ["坐标系", "坐标系统", "坐标类型"],
    "control_level": ["控制级别", "站点级别", "站点类别", "级别"],
    "district": ["所属区县", "区县", "所属区域", "行政区"],
    IGNORED: [
        "aqi",
        "空气质量指数",
        "首要污染物",
        "空气质量等级",
        "空气质量类别",
        "质量等级",
        "等级",
        "类别",
        "城市",
        "所属城市",
        "o3_8h",
        "o3-8h",
        "o3(8h)",
        "臭氧8小时",
        "臭氧8小时滑动平均",
    ],
}
"""Canonical column -> the names staff may give it (matched ignoring case, width and spaces)."""

SITE_COLUMNS = [
    "site_id",
    "name",
    "new",
    "lon",
    "lat",
    "crs_source",
    "control_level",
    "district_stated",
]

DEFAULT_LEVEL = "省控"
"""Control level of a station added without 控制级别: the sheet comes from a provincial or
municipal platform, so the station is never taken for a national (国控) one."""

CO_MG_MAX = 50.0
"""CO above this (mg/m³) under a mg/m³ header is taken for µg/m³ written in the wrong column:
hourly CO in Chinese cities stays below ~10 mg/m³."""

_LOOKUP = sheet.aliases(COLUMNS)
_IDENTITY = ("station_code", "station_name")
_CONTROL_LEVELS = ("国控", "省控", "市控", "区控")
_NATIONAL_CODE = re.compile(r"^\d{4}A$")  # CNEMC station codes: 1234A
_PLAIN_FLAGS = {"", "n", "正常", "有效", "valid", "ok"}
_CRS = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "gps": "wgs84",
    "天地图": "wgs84",
    "cgcs2000": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "高德": "gcj02",
    "腾讯": "gcj02",
    "火星坐标": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "百度": "bd09",
}
_HOUR_24 = re.compile(r"^(.*?\d)\s*[T\s]\s*24\s*(?:[:时点]\s*(?:0{1,2})?\s*分?(?::00)?)?$")
_HOUR_TEXT = re.compile(r"^(\d{1,2})\s*(?:[:时点]\s*(\d{1,2})?\s*分?)?$")
_FAST_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


@dataclass
class _Parsed:
    """One row that named a station and an hour, with its values: code -> (value, flag)."""

    row: Row
    site_id: str
    when: datetime
    values: dict[str, tuple[float, str]] = field(default_factory=dict)


LAYOUT = sheet.Layout(
    KIND,
    _LOOKUP,
    required=[_IDENTITY, ("time", "date")],
    wanted="a station (站点编码 or 站点名称) and a time (监测时间, or 日期 and 小时) column",
    example="air-sheet-template.csv",
)


def read(
    data: bytes,
    *,
    name: str,
    known_sites: pd.DataFrame,
    add_sites: bool,
    tz: str,
    now: datetime,
) -> Reading:
    """Parse an hourly air sheet (CSV or XLSX bytes); see the module docstring.

    `known_sites`: the registry (``site_id``/``id``, ``name``; with a ``kind`` column only ``air``
    sites are matched; ``control_level`` and ``origin`` tell national stations). `name` is the
    file name, for messages; `tz` the sheet's local time zone; `now` (aware) bounds the hours.
    """
    now = sheet.check_now(now)
    zone = ZoneInfo(tz)
    table = sheet.read_sheet(data, LAYOUT, name=name)
    rejects = list(table.rejects)
    if table.has("date") and not table.has("time") and not table.has("hour"):
        raise table.error(
            "a 日期 column without 小时: add the hour (1-24) or write 监测时间 as "
            "2019-04-01 01:00 (see data/examples/air-sheet-template.csv)"
        )
    units = _pollutant_units(table, rejects)
    specs = [
        (code, table.columns[code].index, _index(table, f"{code}_flag"), factor)
        for code, factor in units.items()
    ]
    registry = SiteRegistry(known_sites, "air")
    national = _national_ids(registry)
    levels = registry.column("control_level")
    identify = _Identifier(table, registry, add_sites)
    hour_of = _HourParser(table, zone)
    latest = now + timedelta(hours=1)  # as sheet.future_instant: clocks drift

    parsed: list[_Parsed] = []
    sites: dict[str, dict[str, Any]] = {}
    for row in table.rows:
        found = identify(row)
        if isinstance(found, Reject):
            rejects.append(found)
            continue
        site_id, site_name, is_new = found
        reject = RowRejects(table, row, rejects, site_id)
        level = _control_level(table, row, reject)
        if site_id in national and level not in (None, "国控"):
            reject(
                f"station {site_id} is a national (国控) station, but this row says {level}: a "
                f"{level} station needs its own code (e.g. NB-YY01); row skipped",
                "control_level",
            )
            continue
        when = hour_of(row, reject)
        if when is None:
            continue
        if when > latest:
            local = when.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            reject(f"hour {local} is in the future; check the date (row skipped)")
            continue
        site = sites.get(site_id)
        if site is None:
            site = sites[site_id] = {
                "site_id": site_id,
                "name": site_name,
                "new": is_new,
                "control_level": levels.get(site_id),
            }
        if is_new:
            _describe_new(table, row, site, level, reject)
        parsed.append(_values(table, _Parsed(row, site_id, when), specs, reject))

    records = _records(parsed, sites, table, rejects, zone)
    for site in sites.values():  # a platform's sheet adds no national station
        if site["new"] and not site.get("control_level"):
            site["control_level"] = DEFAULT_LEVEL
    landed = {r[0] for r in records}
    used = [s for s in sites.values() if s["site_id"] in landed]
    return sited_reading(records, "1h", rejects, used, SITE_COLUMNS)


def _values(
    table: Sheet, item: _Parsed, specs: list[tuple[str, int, int | None, float]], reject: RowRejects
) -> _Parsed:
    """Read the row's pollutant cells into `item`: `specs` are (code, column, flag column,
    factor to the canonical unit)."""
    cells = item.row.cells
    for code, index, flag_index, factor in specs:
        raw = cells[index] if index < len(cells) else None
        flag = cells[flag_index] if flag_index is not None and flag_index < len(cells) else ""
        if type(raw) is str and not flag and _FAST_NUMBER.match(raw):  # the common case
            value = float(raw) * factor
            if code != "co" or factor != 1.0 or value <= CO_MG_MAX:
                item.values[code] = (value, "")
                continue
        _value(table, item.row, code, factor, item, reject)
    return item


def _pollutant_units(table: Sheet, rejects: list[Reject]) -> dict[str, float]:
    """Factor from each pollutant column's unit to the canonical one; a column whose unit does
    not convert is reported at the header and left out."""
    out: dict[str, float] = {}
    for code, (unit, _) in POLLUTANTS.items():
        if not table.has(code):
            continue
        written = table.unit(code)
        factor = sheet.unit_factor(written, unit)
        if factor is None:
            rejects.append(
                Reject(
                    location=f"row {table.header_row} (header)",
                    parameter=code,
                    reason=(
                        f"column {table.title(code)!r}: unit {written!r} does not convert to "
                        f"{unit}; write µg/m³ or mg/m³ (the column was ignored)"
                    ),
                    raw=table.title(code),
                )
            )
            continue
        out[code] = factor
    if not out:
        raise table.error(
            "no pollutant column (PM2.5, PM10, SO2, NO2, CO, O3); see "
            "data/examples/air-sheet-template.csv"
        )
    return out


def _index(table: Sheet, key: str) -> int | None:
    col = table.columns.get(key)
    return col.index if col is not None else None


def _national_ids(registry: SiteRegistry) -> set[str]:
    """Known air stations of the national network: 国控 in the registry, from the national
    feed, or with a CNEMC code (``1234A``)."""
    levels, origins = registry.column("control_level"), registry.column("origin")
    return {
        i
        for i in registry.ids
        if levels.get(i) == "国控" or origins.get(i) == "feed" or _NATIONAL_CODE.match(i)
    }


class _Identifier:
    """The row's station (cached per code and name: a sheet repeats them every hour)."""

    def __init__(self, table: Sheet, registry: SiteRegistry, add_sites: bool) -> None:
        self.table, self.registry, self.add_sites = table, registry, add_sites
        self.key = next(k for k in _IDENTITY if table.has(k))
        self.cache: dict[tuple[str, str], tuple[str, str, bool] | str] = {}

    def __call__(self, row: Row) -> tuple[str, str, bool] | Reject:
        code = self.table.text(row, "station_code")
        name = self.table.text(row, "station_name")
        found = self.cache.get((code, name))
        if found is None:
            got = resolve(
                self.registry, [code, name], noun="station", add_sites=self.add_sites, name=name
            )
            found = got if isinstance(got, str) else (got.site_id, got.name, got.new)
            self.cache[code, name] = found
        if isinstance(found, str):
            reason = (
                "no station; write the station's code or name (站点编码 or 站点名称)"
                if not code and not name
                else found
            )
            return Reject(
                location=self.table.where(row, self.key),
                reason=reason,
                raw=code or name or self.table.raw(row),
            )
        return found


class _HourParser:
    """The UTC end of a row's hour, from 监测时间 or 日期 + 小时 (cached per distinct text)."""

    def __init__(self, table: Sheet, zone: ZoneInfo) -> None:
        self.table, self.zone = table, zone
        self.cache: dict[tuple[Any, Any], datetime | tuple[str, str]] = {}

    def __call__(self, row: Row, reject: RowRejects) -> datetime | None:
        use_time = self.table.has("time") and not sheet.is_missing(self.table.get(row, "time"))
        if use_time or not self.table.has("date"):
            cells: tuple[Any, Any] = (self.table.get(row, "time"), None)
        else:
            cells = (self.table.get(row, "date"), self.table.get(row, "hour"))
        key = tuple(c if isinstance(c, str | int | float) or c is None else repr(c) for c in cells)
        got = self.cache.get(key)  # type: ignore[arg-type]
        if got is None:
            try:
                local = _local_hour(*cells) if use_time or not self.table.has("date") else None
                if local is None:
                    local = _date_and_hour(*cells)
                got = local.replace(tzinfo=self.zone).astimezone(UTC)
            except _HourProblem as bad:
                got = (bad.column, str(bad))
            self.cache[key] = got  # type: ignore[index]
        if isinstance(got, tuple):
            column, problem = got
            key_name = column if self.table.has(column) else None
            reject(f"{problem}; row skipped", key_name)
            return None
        return got


class _HourProblem(Exception):
    """A time cell that is not an hour; `column` is the canonical column to name."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def _local_hour(value: Any, _: Any = None) -> datetime:
    """The naive local end of the hour written in a 监测时间 cell."""
    if sheet.is_missing(value):
        raise _HourProblem("time", "no time; write the hour as 2019-04-01 01:00")
    if isinstance(value, datetime):
        # Excel stores times as fractions of a day: 01:00 may come back as 00:59:59.999
        local = (value + timedelta(seconds=30)).replace(second=0, microsecond=0)
        return _on_the_hour(local, sheet.text(value), "time")
    if isinstance(value, date):
        raise _HourProblem("time", f"{value.isoformat()} has no hour; write 2019-04-01 01:00")
    text = sheet.norm(value)
    m = _HOUR_24.match(text)
    if m:
        day, has_time = sheet.local_datetime(m.group(1))
        if day is None or has_time:
            raise _HourProblem("time", f"{text!r} is not a date and hour")
        return day + timedelta(days=1)
    parsed, has_time = sheet.local_datetime(text)
    if parsed is None:
        hour = re.search(r"[\sT](\d{1,2})\s*[:时点]", text)
        if hour and int(hour.group(1)) > 24:
            raise _HourProblem("time", f"hour {int(hour.group(1))} in {text!r} is outside 1-24")
        raise _HourProblem(
            "time",
            f"{text!r} is not a date and hour; write it as 2019-04-01 01:00 (hour-ending)",
        )
    if not has_time:
        raise _HourProblem("time", f"{text!r} has no hour; write 2019-04-01 01:00 (hour-ending)")
    return _on_the_hour(parsed, text, "time")


def _on_the_hour(local: datetime, shown: str, column: str) -> datetime:
    if local.minute or local.second:
        raise _HourProblem(
            column, f"{shown!r} is not on the hour; the sheet must hold hourly values"
        )
    return local


def _date_and_hour(day_cell: Any, hour_cell: Any) -> datetime:
    """The naive local end of the hour from a 日期 and a 小时 (1-24, hour-ending) cell."""
    if sheet.is_missing(day_cell):
        raise _HourProblem("date", "no date; write the date as 2019-04-01")
    try:
        day = sheet.local_date(day_cell)
    except BadCell as bad:
        raise _HourProblem("date", str(bad)) from None
    if sheet.is_missing(hour_cell):
        raise _HourProblem("hour", "no hour; write the hour 1-24 (hour-ending)")
    hour = _hour_number(hour_cell)
    if hour is None:
        raise _HourProblem(
            "hour", f"{sheet.text(hour_cell)!r} is not an hour; write a whole number 1-24"
        )
    if not 1 <= hour <= 24:
        raise _HourProblem(
            "hour",
            f"hour {hour} is outside 1-24 (hours are hour-ending: 1 is 00:00-01:00, 24 is "
            "23:00-24:00)",
        )
    return datetime.combine(day, time()) + timedelta(hours=hour)


def _hour_number(cell: Any) -> int | None:
    if isinstance(cell, time):
        return cell.hour if not cell.minute else None
    if isinstance(cell, datetime):
        return None
    n = sheet.number(cell)
    if n is not None:
        return int(n) if n.is_integer() else None
    m = _HOUR_TEXT.match(sheet.norm(cell))
    if m and not (m.group(2) and int(m.group(2))):
        return int(m.group(1))
    return None


def _control_level(table: Sheet, row: Row, reject: RowRejects) -> str | None:
    written = table.text(row, "control_level")
    if not written:
        return None
    level = _level(written)
    if level is None:
        reject(
            f"control level {written!r} is not one of {'/'.join(_CONTROL_LEVELS)}; it was ignored",
            "control_level",
        )
    return level


@lru_cache(maxsize=64)
def _level(written: str) -> str | None:
    return next((lv for lv in _CONTROL_LEVELS if sheet.squash(written).startswith(lv)), None)


def _describe_new(
    table: Sheet, row: Row, site: dict[str, Any], level: str | None, reject: RowRejects
) -> None:
    """What a row says of a station added here: coordinates, system, level, district."""
    if level and not site.get("control_level"):
        site["control_level"] = level
    stated = table.text(row, "district")
    if stated and not site.get("district_stated"):
        site["district_stated"] = stated
    if site.get("lon") is not None:
        return
    crs_text = sheet.squash(table.text(row, "crs"))
    crs = _CRS.get(crs_text.replace(" ", "")) if crs_text else "wgs84"
    if crs is None:
        reject(
            f"坐标系 {table.text(row, 'crs')!r} is not WGS-84, GCJ-02 (高德) or BD-09 (百度)",
            "crs",
        )
        return
    try:
        point = sheet.coordinates(table.get(row, "lon"), table.get(row, "lat"))
    except BadCell as bad:
        reject(str(bad), "lon", f"{table.text(row, 'lon')}, {table.text(row, 'lat')}")
        return
    if point is None:
        return
    if crs != "wgs84":
        from envwatch.geo import to_wgs84

        point = to_wgs84(point[0], point[1], crs)
    site["lon"], site["lat"], site["crs_source"] = point[0], point[1], crs


def _value(
    table: Sheet, row: Row, code: str, factor: float, item: _Parsed, reject: RowRejects
) -> None:
    """Read one pollutant cell (and its flag) into `item`, or reject it."""
    raw = table.get(row, code)
    if isinstance(raw, str) and _FAST_NUMBER.match(raw):
        got: tuple[float, str, str] | None = (float(raw), "", "")
    else:
        try:
            got = sheet.measured(raw, below_detection=False)
        except BadCell as bad:
            reject(str(bad), code, parameter=code, period_end=item.when.isoformat())
            return
    if got is None:
        return
    value, _, cell_unit = got
    unit = POLLUTANTS[code][0]
    if cell_unit:
        cell_factor = sheet.unit_factor(cell_unit, unit)
        if cell_factor is None:
            reject(
                f"unit {cell_unit!r} does not convert to {unit}; write the number alone",
                code,
                parameter=code,
                period_end=item.when.isoformat(),
            )
            return
        factor = cell_factor
    if value < 0:
        reject(
            f"{table.title(code)} cannot be negative; check the value",
            code,
            parameter=code,
            period_end=item.when.isoformat(),
        )
        return
    value *= factor
    if code == "co" and factor == 1.0 and value > CO_MG_MAX:
        reject(
            f"CO {sheet.text(raw)} mg/m³ is far above anything measured (>{CO_MG_MAX:g}): it "
            "looks like µg/m³; write the column as CO(μg/m³) or divide by 1000",
            code,
            parameter=code,
            period_end=item.when.isoformat(),
        )
        return
    flag = table.text(row, f"{code}_flag")
    item.values[code] = (value, "" if flag.lower() in _PLAIN_FLAGS else f"flagged:{flag}")


def _records(
    parsed: list[_Parsed],
    sites: dict[str, dict[str, Any]],
    table: Sheet,
    rejects: list[Reject],
    zone: ZoneInfo,
) -> list[tuple[str, str, datetime, float, str, str]]:
    """The observations of the parsed rows: new stations without coordinates and station-hours
    given twice with different values are rejected, naming every row."""
    by_key: dict[tuple[str, datetime], list[_Parsed]] = {}
    for item in parsed:
        by_key.setdefault((item.site_id, item.when), []).append(item)
    records: list[tuple[str, str, datetime, float, str, str]] = []
    for (site_id, when), items in by_key.items():
        site = sites[site_id]
        first = items[0]
        if site["new"] and site.get("lon") is None:
            RowRejects(table, first.row, rejects, site_id)(
                f"new station {site_id!r} needs 经度 and 纬度 (and 坐标系 if not WGS-84) in at "
                "least one of its rows; row skipped"
            )
            continue
        differ = [i for i in items[1:] if i.values != first.values]
        if differ:
            numbers = ", ".join(str(i.row.number) for i in items)
            local = when.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            for i in items:
                RowRejects(table, i.row, rejects, site_id)(
                    f"rows {numbers} give different values for station {site_id} at {local}; "
                    "neither is used: keep the right row and load the sheet again",
                    period_end=when.isoformat(),
                )
            continue
        for code, (value, flag) in first.values.items():
            records.append((site_id, code, when, value, POLLUTANTS[code][0], flag))
    return records
