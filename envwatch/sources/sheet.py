"""Shared table reading for staff sheets: outfall inspections, zones, indicators, cells.

A staff sheet is a CSV or XLSX file with one header row and one row per record. This module
turns the payload's bytes into a `Sheet`: its columns matched to canonical keys and its rows with
the row numbers staff see in Excel. The readers (`outfall_sheet`, `zone_sheet`,
`indicator_sheet`, `cells_sheet`) say which columns they want and what the cells mean.

Conventions shared by every staff sheet:

- Format by content, never by file name: XLSX is a zip (``PK``); an old ``.xls`` is refused with
  a request to save as XLSX; anything else is CSV in UTF-8 (with or without a BOM),
  GBK/GB18030 (Excel on Chinese Windows) or UTF-16 (Excel "Unicode text"), comma, tab or
  semicolon separated. An HTML page (a login or error page saved by mistake) or a JSON file is
  refused with a `ParseError` that says so.
- The header is the first row, among the first `HEADER_SEARCH_ROWS`, that has every required
  column (title rows above it are fine); in an XLSX, the first sheet with such a header. Row
  numbers in messages are Excel's: the header is row 1 when nothing is above it.
- Column names are matched case-, width- and space-insensitively (``ＣＯＤ`` = ``cod``), in
  English or Chinese, with a unit in brackets allowed: ``流量(m³/h)``, ``氨氮（mg/L）``,
  ``数值【%】``; a bracket that is not a unit is a note (``总磷(以P计)``, ``氨氮(NH3-N)``).
  A unit written straight after the name also counts: ``流量m3/h``.
- Unknown columns are reported once each (location ``row N (header)``, with a "did you mean")
  and ignored; columns such as 序号 (row number) or 填报人 (who filled it in) are ignored
  silently. Empty rows and footer lines (a single cell starting with 注, 说明, 填报人 ...) are
  skipped.
- Empty cells and the markers of `MISSING_MARKS` (``-``, ``--``, ``—``, ``——``, ``/``,
  ``null``, ``NA``, ``N/A``, ``nan``, ``none``, in any case) mean "not given", in every sheet.
- Numbers: one parser (`number`) for every sheet. ``1,234.5`` and ``1,234`` use a comma as the
  thousands separator (the convention of Chinese and English Excel). A comma that cannot be a
  thousands separator (``0,520``, ``12,5``) is a decimal comma from a European Excel: the cell
  is rejected, naming it, with a request to write ``0.520``; it is never read as 520 or 0.52.
  ``inf``, ``nan`` and numbers that overflow are not numbers.
- Limits on what a sheet may hold: an XLSX is checked before it is opened (at most
  `MAX_XLSX_UNPACKED` bytes unpacked in all, no part packed more than `MAX_PACK_RATIO` times);
  the worksheet's own ``<dimension>`` is ignored (rows are read until the data ends); at most
  `MAX_ROWS` rows are read from any sheet. A file over a limit is refused whole with a
  `ParseError` that names the limit; so is a damaged XLSX (bad zip, bad XML, entity expansion).
- Dates and times in a sheet are local (the reader's `tz`, China Standard Time by default);
  observations store UTC instants. Excel date cells, ``2026-08-03``, ``2026/8/3``,
  ``2026.8.3``, ``2026年8月3日``, ``20260803`` and any of them with a time (``09:30``,
  ``9时30分``) are understood.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from envwatch.errors import ParseError
from envwatch.geo import CHINA_LAT, CHINA_LON, in_china
from envwatch.sources.base import Reading, Reject, empty_observations

__all__ = [
    "CHINA_LAT",
    "CHINA_LON",
    "HEADER_SEARCH_ROWS",
    "IGNORED",
    "MAX_PACK_RATIO",
    "MAX_ROWS",
    "MAX_XLSX_UNPACKED",
    "MISSING_MARKS",
    "BadCell",
    "Column",
    "Layout",
    "Lookup",
    "Row",
    "RowRejects",
    "Sheet",
    "aliases",
    "as_frame",
    "check_now",
    "coordinates",
    "decimal_comma",
    "decode",
    "future_date",
    "future_instant",
    "is_json",
    "is_time_of_day",
    "is_missing",
    "load_json",
    "local_date",
    "local_datetime",
    "local_instant",
    "measured",
    "norm",
    "number",
    "observations",
    "register_reading",
    "read_records",
    "read_sheet",
    "sheet_order",
    "squash",
    "text",
    "UNITS",
    "unit_factor",
    "unit_key",
    "words",
]

HEADER_SEARCH_ROWS = 20
"""How many rows from the top of a sheet may hold titles before the header row."""

IGNORED = "_ignored"
"""Canonical key of columns that are known and deliberately ignored (序号, 填报人 ...)."""


_COMMON_IGNORED = (
    "note",
    "notes",
    "remark",
    "remarks",
    "备注",
    "说明",
    "序号",
    "no",
    "no.",
    "#",
    "填报人",
    "填表人",
    "巡查人",
    "巡查人员",
    "检查人",
    "检查人员",
    "巡检人",
    "联系人",
    "联系电话",
    "照片",
    "现场照片",
)
MISSING_MARKS = frozenset(
    {"", "-", "--", "—", "——", "/", "nan", "none", "null", "na", "n/a", "#n/a"}
)
"""Cell texts (after width folding, lower case) that mean "not given" in every staff sheet."""
_MISSING = MISSING_MARKS

MAX_ROWS = 1_100_000
"""Most rows read from one sheet (Excel's own limit is 1,048,576): a larger file is refused."""

MAX_XLSX_UNPACKED = 200 * 1024 * 1024
"""Most bytes an XLSX may unpack to, all parts together (a zip bomb is refused before it opens)."""

MAX_PACK_RATIO = 200
"""Most an XLSX part may be compressed (unpacked / packed size) when it unpacks to over 1 MB;
real sheets compress 5-50 times."""
_FOOTER = re.compile(r"^(注|说明|备注|填报|填表|审核|制表|联系人|联系电话|负责人)")
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_PLAIN = re.compile(rf"^{_NUM}$")
_THOUSANDS = re.compile(r"^[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_BELOW = [
    re.compile(rf"^(?:<|≤|<=)\s*({_NUM})$"),
    re.compile(rf"^({_NUM})\s*l$", re.I),
    re.compile(rf"^(?:nd|未检出)\s*\(\s*({_NUM})\s*\)$", re.I),
]
_BARE_ND = re.compile(r"^(?:nd|未检出|n\.d\.)$", re.I)
_WITH_UNIT = re.compile(rf"^({_NUM})\s*([^\d\s].*)$")
_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*(\d{1,2})\s*[:时点]\s*(\d{1,2})?\s*分?(?:\s*:\s*(\d{1,2}))?\s*秒?)?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TIME = re.compile(r"^(\d{1,2})\s*[:时点]\s*(\d{1,2})?\s*分?(?:\s*:\s*(\d{1,2}))?\s*秒?$")
_BRACKETS = re.compile(r"[(\[【]([^)\]】]*)[)\]】]")
_DMS = re.compile(
    r"^(\d{1,3})\s*[°度]\s*(?:(\d{1,2}(?:\.\d+)?)\s*['′分])?\s*(?:(\d{1,2}(?:\.\d+)?)\s*(?:\"|″|′′|''|秒))?"
    r"\s*[ENSW东北南西]?$",
    re.I,
)
# Words that make a bracket a unit rather than a note (anything with a slash is a unit too).
_UNIT_WORDS = {
    "%",
    "‰",
    "吨",
    "t",
    "万吨",
    "kg",
    "千克",
    "公斤",
    "个",
    "处",
    "家",
    "座",
    "项",
    "件",
    "m3",
    "无量纲",
    "°",
    "度",
}
_UTC = ZoneInfo("UTC")


# --- text and numbers ------------------------------------------------------------------------


def text(value: Any) -> str:
    """A cell as trimmed text as written; '' for an empty cell.

    Whole numbers stored as floats (Excel's ``2026.0``) are written without the ``.0``.
    """
    if value is None:
        return ""
    if isinstance(value, float) and not isinstance(value, bool):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value).strip()


def norm(value: Any) -> str:
    """`text` with full-width forms made half-width (``（ＣＯＤ）`` -> ``(COD)``), for parsing."""
    return unicodedata.normalize("NFKC", text(value)).strip()


def squash(value: Any) -> str:
    """Matching form of a name: `text`, lower case, no whitespace."""
    return re.sub(r"\s+", "", norm(value)).lower()


def is_missing(value: Any) -> bool:
    """True for an empty cell or one of the "not given" marks (``-``, ``/``, ``—`` ...)."""
    if value is None:
        return True
    if isinstance(value, str):  # the common case, without NFKC
        t = value.strip()
        if len(t) > 4:  # longer than any mark, in any width
            return False
        if t.isascii() or unicodedata.is_normalized("NFKC", t):
            return t.lower() in _MISSING
    return norm(value).lower() in _MISSING


def number(value: Any) -> float | None:
    """A plain finite number (``12``, ``0.5``, ``1,234.5``, ``1e3``), else None.

    A comma is a thousands separator only where it can be one (``1,234``); ``0,520`` is None
    (see `decimal_comma`).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    t = norm(value)
    if _THOUSANDS.match(t):
        t = t.replace(",", "")
    if not _PLAIN.match(t):
        return None
    out = float(t)
    return out if math.isfinite(out) else None


def decimal_comma(value: Any) -> str | None:
    """The reason to reject a cell written with a decimal comma (``0,520``), else None."""
    t = norm(value)
    if _DECIMAL_COMMA.match(t) and not _THOUSANDS.match(t):
        return (
            f"{t!r} has a comma that cannot separate thousands; write the decimal point as "
            f"{t.replace(',', '.')!r} (or the whole number without the comma)"
        )
    return None


def unit_key(unit: str) -> str:
    """Matching form of a unit: ``'m³/h'`` -> ``'m3/h'``, ``'μg/L'`` -> ``'ug/l'``, ``'升/秒'`` -> ``'l/s'``."""
    u = squash(unit).replace("μ", "u").replace("^", "")
    for chinese, latin in (
        ("立方米", "m3"),
        ("立方", "m3"),
        ("方", "m3"),
        ("毫克", "mg"),
        ("微克", "ug"),
        ("纳克", "ng"),
        ("升", "l"),
        ("小时", "h"),
        ("时", "h"),
        ("天", "d"),
        ("日", "d"),
        ("分钟", "min"),
        ("秒", "s"),
        ("每", "/"),
    ):
        u = u.replace(chinese, latin)
    return u


UNITS: dict[str, dict[str, float]] = {
    "mg/L": {"mg/l": 1.0, "g/m3": 1.0, "ug/l": 1e-3, "ng/l": 1e-6, "g/l": 1e3},
    "µg/m³": {"ug/m3": 1.0, "mg/m3": 1e3},
    "mg/m³": {"mg/m3": 1.0, "ug/m3": 1e-3},
    "m³/h": {
        "m3/h": 1.0,
        "t/h": 1.0,
        "吨/h": 1.0,
        "m3/d": 1 / 24,
        "t/d": 1 / 24,
        "吨/d": 1 / 24,
        "l/s": 3.6,
        "m3/s": 3600.0,
        "m3/min": 60.0,
        "l/min": 0.06,
        "l/h": 0.001,
    },
    "count/L": {
        "个/l": 1.0,
        "mpn/l": 1.0,
        "cfu/l": 1.0,
        "count/l": 1.0,
        "个/100ml": 10.0,
        "mpn/100ml": 10.0,
        "cfu/100ml": 10.0,
    },
    "uS/cm": {"us/cm": 1.0, "ms/m": 10.0},
    "NTU": {"ntu": 1.0},
    "cells/L": {"cells/l": 1.0, "个/l": 1.0, "万个/l": 1e4},
    "degC": {"°c": 1.0, "degc": 1.0, "c": 1.0},
    "1": {"无量纲": 1.0, "-": 1.0, "1": 1.0},
}
"""The one unit table of the staff sheets: canonical unit -> {unit as written, in `unit_key`
form: factor to the canonical unit}. ``汞(µg/L)`` × 0.001 -> mg/L; ``流量(m³/d)`` ÷ 24 -> m³/h."""


def unit_factor(written: str, canonical: str) -> float | None:
    """The factor from a unit as written (``'μg/L'``, ``'m³/d'``) to `canonical` (a key of
    `UNITS`); 1 when nothing is written; None when it does not convert."""
    if not written:
        return 1.0
    return UNITS.get(canonical, {}).get(unit_key(written))


class BadCell(Exception):
    """A cell that cannot be used; the message says what to write instead."""


def measured(raw: Any, *, below_detection: bool = True) -> tuple[float, str, str] | None:
    """(value, flag, unit written in the cell) of a measurement cell; None when not given.

    ``0.05L``, ``<0.05``, ``ND(0.05)`` (with `below_detection`) give half the limit and the flag
    ``below_detection``. A unit may follow the number (``12 m³/d``, ``98.5%``); it is returned
    as written ('' when none). Raises `BadCell` when the cell is not a value.
    """
    value = number(raw)
    if value is not None:
        return value, "", ""
    t = norm(raw)
    if t.lower() in _MISSING:
        return None
    comma = decimal_comma(t)
    if comma:
        raise BadCell(comma)
    if below_detection:
        for pattern in _BELOW:
            m = pattern.match(t)
            if m and math.isfinite(float(m.group(1))):
                return float(m.group(1)) / 2, "below_detection", ""
        if _BARE_ND.match(t):
            raise BadCell(
                f"{t!r} has no detection limit; write it as ND(0.01), 0.01L or <0.01 with the "
                "method's limit"
            )
    m = _WITH_UNIT.match(t)
    if (
        m
        and math.isfinite(float(m.group(1)))
        and ("/" in m.group(2) or m.group(2).strip() in _UNIT_WORDS)
    ):
        return float(m.group(1)), "", m.group(2).strip()
    hint = ", 0.01L or <0.01 for below detection," if below_detection else ""
    raise BadCell(f"{t!r} is not a number; write a number such as 0.12{hint} or leave it empty")


# --- dates and times -------------------------------------------------------------------------


def check_now(now: datetime) -> datetime:
    """`now` as an aware UTC datetime; a naive one is a programming error."""
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime (UTC)")
    return now.astimezone(_UTC)


def _excel_serial_hint(value: Any) -> str:
    n = number(value)
    return " (it looks like an Excel day number: format the column as a date)" if n else ""


def _parse_time(value: Any) -> time | None:
    if isinstance(value, time):
        return value
    if isinstance(value, datetime):
        return value.time()
    m = _TIME.match(norm(value))
    if not m:
        return None
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    if h == 24 and mi == 0 and s == 0:
        return None  # 24:00 of a date is ambiguous in a staff sheet: ask for 00:00 of the next day
    try:
        return time(h, mi, s)
    except ValueError:
        return None


def _parse_local(value: Any) -> tuple[datetime | None, bool]:
    """(naive local datetime, whether a time of day was given), or (None, False)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value, True
        return value, value.time() != time()
    if isinstance(value, date):
        return datetime.combine(value, time()), False
    t = norm(value)
    m = _DATE.match(t) or _COMPACT_DATE.match(t)
    if not m:
        return None, False
    parts = [int(g) if g else 0 for g in m.groups()]
    has_time = len(m.groups()) > 3 and m.group(4) is not None
    parts += [0] * (6 - len(parts))
    try:
        return datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]), has_time
    except ValueError:  # 2026-02-30, 25:00 ...
        return None, False


def local_datetime(value: Any) -> tuple[datetime | None, bool]:
    """(naive local date-time, whether a time of day was written) of a date cell, else
    (None, False). An Excel date-time, or text as in the module docstring; ``24:00`` is not a
    time here (readers that accept it say so)."""
    return _parse_local(value)


def is_time_of_day(value: Any) -> bool:
    """True for a time-only cell: an Excel time or text such as ``09:30`` or ``9时30分``."""
    if isinstance(value, datetime | date):
        return False
    return _parse_time(value) is not None


def local_instant(value: Any, zone: ZoneInfo, *, time_of_day: Any = None) -> datetime:
    """The UTC instant of a local date or date-and-time cell; a bare date is local 00:00.

    `time_of_day` is an optional separate time cell (``09:30``) used when `value` is a date
    only. Raises `BadCell` saying what to write.
    """
    local, has_time = _parse_local(value)
    if local is None:
        raise BadCell(
            f"{text(value)!r} is not a date{_excel_serial_hint(value)}; write it as 2026-08-03 "
            "or 2026-08-03 09:30"
        )
    if local.tzinfo is not None:
        return local.astimezone(_UTC)
    if not has_time and not is_missing(time_of_day):
        clock = _parse_time(time_of_day)
        if clock is None:
            raise BadCell(f"{text(time_of_day)!r} is not a time of day; write it as 09:30")
        local = datetime.combine(local.date(), clock)
    return local.replace(tzinfo=zone).astimezone(_UTC)


def local_date(value: Any) -> date:
    """A date cell (Excel date, ``2026-08-03``, ``2026年8月3日`` ...); raises `BadCell`."""
    local, _ = _parse_local(value)
    if local is None:
        raise BadCell(
            f"{text(value)!r} is not a date{_excel_serial_hint(value)}; write it as 2026-08-03"
        )
    return local.date()


def future_instant(when: datetime, now: datetime) -> bool:
    """True when `when` is more than an hour after `now` (clocks of laptops drift)."""
    return when > now + timedelta(hours=1)


def future_date(day: date, now: datetime, zone: ZoneInfo) -> bool:
    """True when `day` is after today's local date (an hour's grace as for instants)."""
    return day > (now + timedelta(hours=1)).astimezone(zone).date()


# --- coordinates -----------------------------------------------------------------------------


def _degrees(value: Any) -> float | None:
    n = number(value)
    if n is not None:
        return n
    m = _DMS.match(norm(value).replace(" ", ""))
    if not m:
        return None
    d, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return d + mi / 60 + s / 3600


def coordinates(lon_raw: Any, lat_raw: Any) -> tuple[float, float] | None:
    """(lon, lat) in WGS-84 degrees from two cells; None when both are empty.

    Decimal degrees or degrees-minutes-seconds (``121°42′30″``). Raises `BadCell` when only one
    is given, when one is not a number, or when the point is outside China (with a hint when the
    two look swapped).
    """
    if is_missing(lon_raw) and is_missing(lat_raw):
        return None
    if is_missing(lon_raw) or is_missing(lat_raw):
        raise BadCell("give both longitude (经度) and latitude (纬度), or neither")
    lon, lat = _degrees(lon_raw), _degrees(lat_raw)
    if lon is None or lat is None:
        bad = text(lon_raw) if lon is None else text(lat_raw)
        raise BadCell(f"{bad!r} is not a coordinate; write decimal degrees such as 121.7130")
    if not in_china(lon, lat):
        swapped = in_china(lat, lon)
        hint = "; longitude and latitude look swapped" if swapped else ""
        raise BadCell(
            f"({lon}, {lat}) is outside China (longitude {CHINA_LON[0]}-{CHINA_LON[1]}, "
            f"latitude {CHINA_LAT[0]}-{CHINA_LAT[1]}){hint}; write WGS-84 decimal degrees"
        )
    return lon, lat


# --- name lookup -----------------------------------------------------------------------------


class Lookup:
    """Match free text against ids, names and aliases, and suggest close matches.

    `entries` are ``(id, label, keys)``: the label is how a suggestion shows the entry, the keys
    (id, name, aliases) are what may be written for it. An id written exactly wins over a name.
    """

    def __init__(self, entries: Iterable[tuple[str, str, Iterable[str]]]) -> None:
        self.labels: dict[str, str] = {}
        self._ids: dict[str, str] = {}
        self._keys: dict[str, list[str]] = {}
        for ident, label, keys in entries:
            self.labels[ident] = label
            self._ids.setdefault(squash(ident), ident)
            for key in keys:
                k = squash(key)
                if k and ident not in self._keys.setdefault(k, []):
                    self._keys[k].append(ident)

    def find(self, value: Any) -> list[str]:
        """The ids `value` names: one, none, or several when a shared name is written."""
        key = squash(value)
        if key in self._ids:
            return [self._ids[key]]
        return list(self._keys.get(key, []))

    def suggest(self, value: Any, n: int = 3) -> list[str]:
        """Labels of up to `n` entries whose id or keys are close to `value`."""
        key = squash(value)
        pool = list(dict.fromkeys([*self._ids, *self._keys]))
        shown: list[str] = []
        for close in difflib.get_close_matches(key, pool, n=n + 2, cutoff=0.5):
            idents = [self._ids[close]] if close in self._ids else self._keys[close]
            for ident in idents:
                label = self.labels[ident]
                if label not in shown:
                    shown.append(label)
        return shown[:n]

    def hint(self, value: Any) -> str:
        """``'; did you mean A or B?'`` or '' when nothing is close."""
        shown = self.suggest(value)
        return f"; did you mean {' or '.join(shown)}?" if shown else ""


def words(value: Any) -> list[str]:
    """A list of words from a config cell: a list, a ``;``/``,``/``、``-separated string, or
    nothing (None, NaN, '')."""
    if isinstance(value, str):
        return [w.strip() for w in re.split(r"[;,，；、|]", value) if w.strip()]
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        return [str(w).strip() for w in value if isinstance(w, str) and w.strip()]
    return []


# --- the table -------------------------------------------------------------------------------


def aliases(table: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Header lookup from ``{canonical key: [names ...]}``: every name in matching form.

    The canonical key itself always matches; `IGNORED` names are silently ignored columns.
    """
    out: dict[str, str] = {}
    for key, names in table.items():
        if key != IGNORED:
            out[squash(key)] = key
        for n in names:
            out[squash(n)] = key
    for n in _COMMON_IGNORED:
        out.setdefault(squash(n), IGNORED)
    return out


def _unit_like(content: str) -> bool:
    u = content.strip()
    return bool(u) and ("/" in u or u in _UNIT_WORDS or unit_key(u) in _UNIT_WORDS)


def _match_header(title: Any, lookup: Mapping[str, str]) -> tuple[str | None, str, str]:
    """(canonical key or None, unit, matching label) of a header cell.

    ``'流量(m³/h)'`` -> ``('flow', 'm3/h', '流量')``; ``'总磷(以P计)(mg/L)'`` -> ``('tp', 'mg/l',
    '总磷')``. A bracket that is not unit-like is part of the name or a note.
    """
    t = squash(title)
    candidates: list[tuple[str, str]] = []
    units = [m for m in _BRACKETS.finditer(t) if _unit_like(m.group(1))]
    unit = units[-1].group(1) if units else ""
    candidates.append((_BRACKETS.sub("", t), unit))
    if units:
        last = units[-1]
        candidates.append((t[: last.start()] + t[last.end() :], unit))
    candidates.append((t, ""))
    for label, u in candidates:
        label = label.rstrip("/:-_,")
        if label in lookup:
            return lookup[label], u, label
    # a unit straight after the name: 流量m3/h, 氨氮mg/l
    for alias in sorted(lookup, key=len, reverse=True):
        rest = t[len(alias) :].lstrip("/:-_,")
        if t.startswith(alias) and rest and _unit_like(rest):
            return lookup[alias], rest, alias
    return None, "", candidates[0][0]


@dataclass(frozen=True)
class Column:
    """A recognised column: its position, its title as written, its key and unit."""

    index: int
    title: str
    key: str
    unit: str = ""  # as written in the header's bracket ('' when none)


@dataclass(frozen=True)
class Row:
    """A data row: its number as staff see it (Excel row, or feature number) and its cells."""

    number: int
    cells: list[Any]


@dataclass
class Sheet:
    """A staff table with its columns matched; see `read_sheet`."""

    kind: str  # "outfall sheet" ...: how messages name the file's kind
    name: str  # the file name, for messages
    header_row: int
    columns: dict[str, Column]
    rows: list[Row]
    rejects: list[Reject] = field(default_factory=list)  # header problems
    row_label: str = "row"

    def has(self, key: str) -> bool:
        """Whether the sheet has a column for `key`."""
        return key in self.columns

    def get(self, row: Row, key: str) -> Any:
        """The raw cell of `key` in `row`; None when the sheet lacks the column."""
        col = self.columns.get(key)
        if col is None or col.index >= len(row.cells):
            return None
        return row.cells[col.index]

    def text(self, row: Row, key: str) -> str:
        """The cell of `key` as text; '' when empty or marked not given (``-``, ``/``)."""
        value = self.get(row, key)
        return "" if is_missing(value) else text(value)

    def title(self, key: str, default: str | None = None) -> str:
        """The column's title as staff wrote it (for messages)."""
        col = self.columns.get(key)
        return col.title if col is not None else (default or key)

    def unit(self, key: str) -> str:
        """The unit written in the column's header ('' when none)."""
        col = self.columns.get(key)
        return col.unit if col is not None else ""

    def where(self, row: Row, key: str | None = None) -> str:
        """``'row 7'`` or ``'row 7, 巡查时间'``: a reject's location."""
        base = f"{self.row_label} {row.number}"
        return f"{base}, {self.title(key)}" if key else base

    def raw(self, row: Row) -> str:
        """The row's non-empty cells, comma-joined, for a reject's raw text."""
        return ", ".join(text(c) for c in row.cells if text(c))

    def error(self, message: str) -> ParseError:
        """A ParseError naming the file."""
        return ParseError(f"{self.kind} {self.name}: {message}")


@dataclass
class RowRejects:
    """Collects the rejects of one row: ``reject(reason, key)`` records where, site and raw text.

    The raw text is the cell's (with a `key`) or the whole row's, unless given.
    """

    sheet: Sheet
    row: Row
    out: list[Reject]
    site_id: str | None = None

    def __call__(
        self, reason: str, key: str | None = None, raw: str | None = None, **fields: Any
    ) -> None:
        if raw is None:
            raw = self.sheet.text(self.row, key) if key else self.sheet.raw(self.row)
        self.out.append(
            Reject(
                location=self.sheet.where(self.row, key),
                reason=reason,
                site_id=self.site_id,
                raw=raw,
                **fields,
            )
        )


def sheet_order(reject: Reject) -> tuple[int, int]:
    """Sort key: rejects in the order staff read the sheet, header problems first."""
    m = re.match(r"(?:row|feature) (\d+)( \(header\))?", reject.location)
    if not m:
        return (0, 0)
    return (int(m.group(1)), 0 if m.group(2) else 1)


def _columns(
    header: list[Any], lookup: Mapping[str, str], header_row: int, label: str
) -> tuple[dict[str, Column], list[Reject]]:
    columns: dict[str, Column] = {}
    rejects: list[Reject] = []
    where = f"{label} {header_row} (header)"
    for index, title in enumerate(header):
        shown = text(title)
        if not shown:
            continue
        known = _known_title(shown, lookup, where, ("column", "column"), rejects)
        if known is None:
            continue
        key, unit = known
        if key in columns:
            rejects.append(
                Reject(
                    location=where,
                    reason=(
                        f"column {shown!r} repeats {columns[key].title!r} and was ignored; "
                        "keep one of them"
                    ),
                    raw=shown,
                )
            )
            continue
        columns[key] = Column(index=index, title=shown, key=key, unit=unit)
    return columns, rejects


def _known_title(
    title: str,
    lookup: Mapping[str, str],
    where: str,
    nouns: tuple[str, str],
    rejects: list[Reject],
) -> tuple[str, str] | None:
    """(key, unit) of a column title or property name; None when it is one to ignore or
    unknown (then a `Reject` at `where` is added to `rejects`). `nouns`: what it is and what it
    is not, for the message, e.g. ``("column", "column")`` or ``("property", "field")``."""
    key, unit, matched = _match_header(title, lookup)
    if key == IGNORED:
        return None
    if key is None:
        hint = _column_hint(matched, lookup)
        what, known_as = nouns
        rejects.append(
            Reject(
                location=where,
                reason=f"{what} {title!r} is not a known {known_as}{hint} and was ignored",
                raw=title,
            )
        )
        return None
    return key, unit


def _first_filled(cells: list[Any]) -> list[str]:
    """The first two given cells of a row, as text (enough to tell blank and footer rows)."""
    out: list[str] = []
    for c in cells:
        if not is_missing(c):
            out.append(text(c))
            if len(out) == 2:
                break
    return out


def _column_hint(matched: str, lookup: Mapping[str, str]) -> str:
    """`` (did you mean 'x'?)`` for an unknown column name, or ''."""
    pool = [k for k, v in lookup.items() if v != IGNORED]
    close = difflib.get_close_matches(matched, pool, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _keys(cells: list[Any], lookup: Mapping[str, str]) -> set[str]:
    return {k for k in (_match_header(c, lookup)[0] for c in cells if text(c)) if k}


def _missing(keys: set[str], required: Sequence[Sequence[str]]) -> list[Sequence[str]]:
    return [group for group in required if not keys.intersection(group)]


@dataclass(frozen=True)
class Layout:
    """What one kind of staff sheet holds, declared once by its reader.

    `kind` names it in messages (``"outfall sheet"``); `columns` is its header lookup (made
    with `aliases`); `required` lists groups of keys of which the header must hold at least one
    each (``[("outfall", "outfall_name"), ("inspected_at",)]``); `wanted` says them for the
    error message (``"an outfall (排口名称) and an inspected_at (巡查时间) column"``); `example`
    is the file in ``data/examples`` to copy (default: the kind's name, ``outfall-sheet-
    example.csv``).
    """

    kind: str
    columns: Mapping[str, str]
    required: Sequence[Sequence[str]]
    wanted: str
    example: str = ""

    @property
    def example_file(self) -> str:
        """The example's file name in ``data/examples``."""
        return self.example or f"{self.kind.replace(' ', '-')}-example.csv"


def _find_header(rows: list[tuple[int, list[Any]]], layout: Layout) -> tuple[int | None, str]:
    """(index of the header in `rows`, '') or (None, what the best candidate lacks)."""
    best: tuple[int, int, set[str]] | None = None
    for i, (n, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        keys = _keys(cells, layout.columns) - {IGNORED}
        if not _missing(keys, layout.required):
            return i, ""
        if keys and (best is None or len(keys) > len(best[2])):
            best = (i, n, keys)
    if best is None:
        return None, ""
    lacking = ", ".join("/".join(group) for group in _missing(best[2], layout.required))
    return None, f"row {best[1]} looks like the header but has no {lacking} column"


def _split(rows: list[tuple[int, list[Any]]], layout: Layout, name: str, where: str = "") -> Sheet:
    h, problem = _find_header(rows, layout)
    if h is None:
        detail = f"{problem}; " if problem else ""
        raise ParseError(
            f"{layout.kind} {name}: no header row with {layout.wanted} in the first "
            f"{HEADER_SEARCH_ROWS} rows{where}; {detail}add them (see data/examples/"
            f"{layout.example_file})"
        )
    header_row, header = rows[h]
    columns, rejects = _columns(header, layout.columns, header_row, "row")
    body: list[Row] = []
    for n, cells in rows[h + 1 :]:
        filled = _first_filled(cells)
        if not filled or (len(filled) == 1 and _FOOTER.match(filled[0])):
            continue
        body.append(Row(number=n, cells=list(cells)))
    if not body:
        raise ParseError(
            f"{layout.kind} {name}: no data rows (the header is on row {header_row} and "
            "nothing follows); fill in the sheet, or export it again if it was cut off"
        )
    return Sheet(
        kind=layout.kind,
        name=name,
        header_row=header_row,
        columns=columns,
        rows=body,
        rejects=rejects,
    )


def decode(payload: bytes, *, kind: str, name: str) -> str:
    """The payload as text: UTF-16 with a BOM, UTF-8 (BOM or not) or GBK/GB18030."""
    if payload[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return payload.decode("utf-16")
        except UnicodeDecodeError:
            raise ParseError(
                f"{kind} {name}: the file starts as UTF-16 text but is broken (cut off or "
                "mixed encodings); export it again as 'CSV UTF-8' from Excel"
            ) from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return payload.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ParseError(
        f"{kind} {name}: the text is neither UTF-8 nor GBK; save it as 'CSV UTF-8' in Excel"
    )


def _refuse_non_tables(payload: bytes, kind: str, name: str) -> None:
    if not payload.strip():
        raise ParseError(f"{kind} {name}: the file is empty; export the sheet again")
    if payload[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ParseError(
            f"{kind} {name}: an old Excel .xls file; save it as .xlsx or CSV and load it again"
        )


Rows = list[tuple[int, list[Any]]]
"""Numbered rows of a sheet: (row number as staff see it in Excel, cells)."""


def _too_many_rows(kind: str, name: str) -> ParseError:
    return ParseError(
        f"{kind} {name}: more than {MAX_ROWS:,} rows, the most one sheet may hold; split it "
        "into several files (one per month, say)"
    )


def _csv_rows(payload: bytes, kind: str, name: str) -> Rows:
    content = decode(payload, kind=kind, name=name)
    first = next((line for line in content.splitlines() if line.strip()), "").lstrip()
    if first.startswith("<"):
        raise ParseError(
            f"{kind} {name}: this is an HTML or XML page, not a sheet (a login or "
            "error page, or a web table saved as .xls?); open the table in Excel and save it "
            "as XLSX or CSV"
        )
    if first.startswith(("{", "[")):
        raise ParseError(
            f"{kind} {name}: this is a JSON file, not a sheet; save the sheet as CSV or XLSX"
        )
    delimiter = max(",\t;", key=first.count)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    rows: Rows = []
    try:
        for n, cells in enumerate(reader, start=1):
            if n > MAX_ROWS:
                raise _too_many_rows(kind, name)
            rows.append((n, cells))
    except csv.Error as exc:
        raise ParseError(
            f"{kind} {name}: line {reader.line_num} is not CSV ({exc}); export the sheet again"
        ) from None
    return rows


def _check_zip(payload: bytes, kind: str, name: str) -> None:
    """Refuse an XLSX that is not a zip, or that would unpack to more than the limits allow."""
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ParseError(
            f"{kind} {name}: not a readable XLSX file (damaged zip: {exc}); open it in Excel "
            "and save it again as .xlsx or CSV"
        ) from None
    total = sum(m.file_size for m in members)
    if total > MAX_XLSX_UNPACKED:
        raise ParseError(
            f"{kind} {name}: the XLSX unpacks to {total / 2**20:,.0f} MB, over the limit of "
            f"{MAX_XLSX_UNPACKED / 2**20:,.0f} MB; split it into smaller files or save it as CSV"
        )
    for m in members:
        if m.file_size > 2**20 and m.file_size > MAX_PACK_RATIO * max(m.compress_size, 1):
            raise ParseError(
                f"{kind} {name}: part {m.filename!r} of the XLSX is packed "
                f"{m.file_size // max(m.compress_size, 1):,} times, over the limit of "
                f"{MAX_PACK_RATIO} (a zip bomb?); save the sheet again from Excel"
            )


def _xlsx_rows(
    payload: bytes, kind: str, name: str, has_header: Callable[[Rows], bool]
) -> tuple[Rows, str]:
    from openpyxl import load_workbook

    _check_zip(payload, kind, name)
    try:
        book = load_workbook(io.BytesIO(payload), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises anything on a damaged file
        raise _damaged(kind, name, exc) from None
    try:
        titles: list[str] = []
        for ws in book.worksheets:
            titles.append(repr(ws.title))
            rows = _worksheet_rows(ws, kind, name)
            if has_header(rows):
                return rows, ""
        return [], f" of any sheet ({', '.join(titles)})"
    except ParseError:
        raise
    except Exception as exc:  # bad XML, forbidden entities, bad cell values ...
        raise _damaged(kind, name, exc) from None
    finally:
        book.close()


def _worksheet_rows(ws: Any, kind: str, name: str) -> Rows:
    """The rows of a read-only worksheet, its ``<dimension>`` ignored, trailing blanks cut."""
    if hasattr(ws, "reset_dimensions"):  # chart sheets have none
        ws.reset_dimensions()  # never trust <dimension>: A1:N2 over 20 rows, A1:XFD1048576 ...
    rows: Rows = []
    if not hasattr(ws, "iter_rows"):
        return rows
    for n, values in enumerate(ws.iter_rows(values_only=True), start=1):
        if n > MAX_ROWS:
            raise _too_many_rows(kind, name)
        cells = list(values)
        while cells and cells[-1] is None:
            cells.pop()
        rows.append((n, cells))
    return rows


def _damaged(kind: str, name: str, exc: BaseException) -> ParseError:
    detail = " ".join(str(exc).split())[:120]
    why = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return ParseError(
        f"{kind} {name}: not a readable XLSX file ({why}); open it in Excel and save it "
        "again as .xlsx or CSV"
    )


def table_rows(
    payload: bytes, *, kind: str, name: str, has_header: Callable[[Rows], bool]
) -> tuple[Rows, str]:
    """The numbered rows of a CSV file, or of the first XLSX worksheet where `has_header` is true.

    The format is told by content (see the module docstring). The second item is '' or, when no
    worksheet has a header, `` of any sheet ('Sheet1', ...)`` for the caller's error message (the
    rows are then empty). Raises `ParseError` (naming `kind` and `name`) for an empty file, an
    old ``.xls``, an HTML or JSON page, text that is not UTF-8/GBK/UTF-16, or a broken XLSX.
    """
    _refuse_non_tables(payload, kind, name)
    if payload[:4] == b"PK\x03\x04":
        return _xlsx_rows(payload, kind, name, has_header)
    return _csv_rows(payload, kind, name), ""


def read_sheet(payload: bytes, layout: Layout, *, name: str) -> Sheet:
    """Read a CSV or XLSX staff sheet of `layout` into a `Sheet` (see the module docstring).

    `name` is the file name, for messages. Raises `ParseError` (naming the kind and `name`)
    when there is no table, no header with the required columns, or no data row.
    """
    rows, where = table_rows(
        payload,
        kind=layout.kind,
        name=name,
        has_header=lambda r: _find_header(r, layout)[0] is not None,
    )
    table = _split(rows, layout, name, where)
    if payload[:4] != b"PK\x03\x04" and not payload.rstrip(b"\0").endswith((b"\n", b"\r")):
        _cut_last_row(table)
    return table


def _cut_last_row(table: Sheet) -> None:
    """A CSV that ends without a newline inside a row that lacks columns was cut off: that row
    is rejected naming the columns it lacks (a ParseError when it was the only row)."""
    last = table.rows[-1]
    lacking = [c.title for c in table.columns.values() if c.index >= len(last.cells)]
    if not lacking:
        return
    what = f"the file ends in the middle of row {last.number} (no {', '.join(lacking)})"
    if len(table.rows) == 1:
        raise table.error(f"{what}, its only data row; export the file again")
    table.rows.pop()
    table.rejects.append(
        Reject(
            location=f"row {last.number}",
            reason=f"{what}; the row was skipped: export the file again if it was cut off",
            raw=table.raw(last),
        )
    )


def read_records(
    records: Sequence[Mapping[str, Any]], layout: Layout, *, name: str, row_label: str = "feature"
) -> Sheet:
    """A `Sheet` of `layout` from records (e.g. GeoJSON features' properties), numbered from 1.

    The header is the union of the records' keys, in order of appearance; keys are matched as
    column titles are. Raises `ParseError` when a required key is in no record.
    """
    kind, columns = layout.kind, layout.columns
    keys = list(dict.fromkeys(k for r in records for k in r))
    lacking = _missing(_keys(keys, columns), layout.required)
    if not records:
        raise ParseError(f"{kind} {name}: it holds no {row_label}s; export them again")
    if lacking:
        names = ", ".join("/".join(group) for group in lacking)
        raise ParseError(
            f"{kind} {name}: no {row_label} has a property for {names}; add {layout.wanted} "
            f"(see data/examples/{layout.example_file})"
        )
    # Features may spell a field differently (name in one, 名称 in another): merge per record.
    sources: dict[str, list[str]] = {}
    cols: dict[str, Column] = {}
    rejects: list[Reject] = []
    for k in keys:
        known = _known_title(k, columns, "header", ("property", "field"), rejects)
        if known is None:
            continue
        key, unit = known
        if key not in cols:
            cols[key] = Column(index=len(cols), title=k, key=key, unit=unit)
        sources.setdefault(key, []).append(k)

    def merged(record: Mapping[str, Any], key: str) -> Any:
        return next((record[k] for k in sources[key] if not is_missing(record.get(k))), None)

    rows = [
        Row(number=i, cells=[merged(r, key) for key in cols])
        for i, r in enumerate(records, start=1)
    ]
    return Sheet(
        kind=kind,
        name=name,
        header_row=0,
        columns=cols,
        rows=rows,
        rejects=rejects,
        row_label=row_label,
    )


def is_json(payload: bytes) -> bool:
    """Whether the payload looks like JSON (after a BOM and whitespace)."""
    head = payload.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head in (b"{", b"[")


def load_json(payload: bytes, *, kind: str, name: str) -> Any:
    """Parse a JSON payload; a `ParseError` says where it is broken."""
    try:
        return json.loads(decode(payload, kind=kind, name=name))
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"{kind} {name}: broken JSON at line {exc.lineno}, column {exc.colno} "
            f"({exc.msg}); export the file again"
        ) from None
    except RecursionError:
        raise ParseError(
            f"{kind} {name}: JSON nested too deeply to be a sheet or GeoJSON; export it again"
        ) from None


# --- results ---------------------------------------------------------------------------------


def register_reading(
    table: Sheet,
    record_of: Callable[[Row, RowRejects], dict[str, Any] | None],
    *,
    key: str,
    noun: str,
    columns: Sequence[str],
) -> Reading:
    """What a register (zones, cells: one record per thing, no observations) delivers.

    `record_of` makes a row's record (or rejects the row and returns None); of rows with the
    same `key` the first is kept and the others are rejected as its duplicates (`noun` names
    the thing: ``zone``, ``cell``). Records have `columns` (lon/lat as floats); rejects are in
    the order staff read the sheet.
    """
    rejects = list(table.rejects)
    records: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row in table.rows:
        reject = RowRejects(table, row, rejects)
        record = record_of(row, reject)
        if record is None:
            continue
        ident = record[key]
        if ident in seen:
            reject(
                f"duplicate of {table.row_label} {seen[ident]} (same {noun} {ident!r}); "
                "the first was kept"
            )
            continue
        seen[ident] = row.number
        records.append(record)
    return Reading(
        observations=empty_observations(),
        rejects=sorted(rejects, key=sheet_order),
        records=as_frame(records, columns, floats=("lon", "lat")),
    )


def observations(
    records: Sequence[tuple[str, str, datetime, float, str, str]],
    averaging: str | Sequence[str],
) -> pd.DataFrame:
    """The canonical observation frame of ``(site_id, parameter, period_end, value, unit, flag)``.

    `averaging` is one code for every record or one per record.
    """
    frame = empty_observations()
    if not records:
        return frame
    site_id, parameter, when, value, unit, flag = zip(*records, strict=True)
    # a sheet repeats few instants: convert each once
    instants: dict[datetime, int] = {}
    codes = [instants.setdefault(w, len(instants)) for w in when]
    stamps = pd.to_datetime(list(instants), utc=True).as_unit("ns")
    return pd.DataFrame(
        {
            "site_id": pd.Series(site_id, dtype=object),
            "parameter": pd.Series(parameter, dtype=object),
            "averaging": pd.Series(
                [averaging] * len(records) if isinstance(averaging, str) else list(averaging),
                dtype=object,
            ),
            "period_end": stamps.take(codes),
            "value": pd.Series(value, dtype="float64"),
            "unit": pd.Series(unit, dtype=object),
            "flag": pd.Series(flag, dtype=object),
        },
        columns=frame.columns,
    )


def as_frame(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], floats: Sequence[str] = ()
) -> pd.DataFrame:
    """A frame with exactly `columns`: `floats` as float64 (NaN when missing), the rest as
    Python objects (None when missing, dates as `datetime.date`)."""
    data: dict[str, pd.Series] = {}
    for col in columns:
        values = [r.get(col) for r in rows]
        if col in floats:
            data[col] = pd.Series(
                [float("nan") if v is None else float(v) for v in values], dtype="float64"
            )
        else:
            data[col] = pd.Series(values, dtype=object)
    return pd.DataFrame(data, columns=list(columns))
