"""Read a staff lab sheet of surface-water samples (CSV or XLSX) into canonical observations.

One row per sample. Columns, matched by name (English code or Chinese name, case and spaces
ignored, a unit in brackets allowed: ``总磷(mg/L)``, ``汞（µg/L）``, ``氟化物(以F-计)(mg/L)``):

==================  =====================================================================
``section``         断面 / 断面名称 / 点位: a site id or name of the registry (`known_sites`)
``sampled_at``      采样时间 / 监测时间 / 采样日期: local date or date and time
``water_type``      水体类型, optional: river / lake (河流 / 湖库); required for new sections
``lon``, ``lat``    经度 / 纬度, optional (WGS-84)
``control_level``  控制级别, optional, for sections added with --add-sites: 国控/省控/市控/区控/县控
``target_class``   目标类别 / 水质目标, optional, for sections added with --add-sites: Ⅰ-Ⅴ or 1-5
``note``            备注, optional, ignored
parameter codes     one per parameter of standards/WATER.md: ``ph`` (pH), ``do`` (溶解氧),
                    ``codmn`` (高锰酸盐指数), ``tp`` (总磷) ... see `COLUMN_ALIASES`
==================  =====================================================================

Conventions and decisions:

- The header is the first row, among the first ten, that has a section and a sampled_at column
  (title rows above it are allowed); in an XLSX, the first sheet with such a header. Row numbers
  in rejects are the row numbers staff see in Excel.
- Format by content: XLSX is a zip (``PK``); anything else is CSV in UTF-8 (with or without a
  BOM), GBK/GB18030 (Excel on Chinese Windows) or UTF-16 (Excel "Unicode text"); comma, tab or
  semicolon separated. An old ``.xls`` is refused with a request to save as XLSX.
- Units: concentrations are stored in mg/L; a column in µg/L (also ``μg/L``, ``ug/L``) or ng/L
  is converted. Fecal coliform in count/L (个/L, MPN/L; per 100 mL x 10). A column whose unit is
  not understood is rejected once (location ``header``) and skipped.
- Below detection: ``0.05L``, ``<0.05`` (``＜``, ``≤``) and ``ND(0.05)`` / ``未检出(0.05)`` are
  stored at half the limit with flag ``below_detection``. A bare ``ND`` or ``未检出`` is rejected:
  it carries no detection limit, and the class needs one; write ``ND(0.01)`` or ``0.01L``.
- Empty, ``-``, ``--``, ``/`` and ``—`` mean not measured: no observation.
- ``sampled_at`` is local time in `tz` (China Standard Time by default) and stored in UTC. A
  date without a time is taken as local 00:00 of that date.
- An unknown section is rejected with a "did you mean" suggestion. With ``add_sites=True`` it is
  added: its id and name are the text as written, and a water_type is required (from any of
  its rows); without one its rows are rejected.
- Unknown columns are reported once each as a `Reject` at location ``header`` (with a
  suggestion) and ignored; the rest of the sheet lands.
- `Reading.sites` has one row per section the sheet mentions: site_id, name, water_type, lon,
  lat (as the sheet gives them, else missing) and ``new`` (True for a section added here).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from envwatch.errors import ParseError
from envwatch.sources.base import Reading, Reject, empty_observations
from envwatch.sources.sheet import table_rows
from envwatch.standards.water import PARAMETERS

__all__ = ["COLUMN_ALIASES", "read"]

_HEADER_SEARCH_ROWS = 10

COLUMN_ALIASES: dict[str, str] = {
    **{code: code for code in PARAMETERS},
    **{p.name.lower(): code for code, p in PARAMETERS.items()},
    # row identity
    "section": "section",
    "断面": "section",
    "断面名称": "section",
    "监测断面": "section",
    "点位": "section",
    "点位名称": "section",
    "site": "section",
    "site_id": "section",
    "sampled_at": "sampled_at",
    "采样时间": "sampled_at",
    "监测时间": "sampled_at",
    "采样日期": "sampled_at",
    "监测日期": "sampled_at",
    "water_type": "water_type",
    "水体类型": "water_type",
    "lon": "lon",
    "经度": "lon",
    "lat": "lat",
    "纬度": "lat",
    "note": "note",
    "备注": "note",
    "control_level": "control_level",
    "控制级别": "control_level",
    "断面级别": "control_level",
    "target_class": "target_class",
    "目标类别": "target_class",
    "水质目标": "target_class",
    "目标水质": "target_class",
    # usual spellings of parameters
    "ph值": "ph",
    "水温": "temp",
    "高锰酸钾指数": "codmn",
    "cod_mn": "codmn",
    "codcr": "cod",
    "bod": "bod5",
    "nh3-n": "nh3n",
    "nh3_n": "nh3n",
    "氨氮(nh3-n)": "nh3n",
    "铬(六价)": "cr6",
    "cr6+": "cr6",
    "叶绿素a": "chla",
}
"""Normalised header text (lower case, no spaces, unit removed) -> canonical column."""

_ROW_COLUMNS = (
    "section",
    "sampled_at",
    "water_type",
    "lon",
    "lat",
    "note",
    "control_level",
    "target_class",
)
_CONTROL_LEVELS = ("国控", "省控", "市控", "区控", "县控")
_CLASS_TEXT = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "Ⅰ": 1, "Ⅱ": 2, "Ⅲ": 3, "Ⅳ": 4, "Ⅴ": 5,
               "I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}  # fmt: skip

_CONCENTRATION = {"mg/l": 1.0, "µg/l": 1e-3, "μg/l": 1e-3, "ug/l": 1e-3, "ng/l": 1e-6}
_UNITS: dict[str, dict[str, float]] = {
    "temp": {"℃": 1.0, "°c": 1.0, "degc": 1.0},
    "ph": {"无量纲": 1.0, "-": 1.0, "1": 1.0},
    "fcoli": {
        "个/l": 1.0,
        "mpn/l": 1.0,
        "cfu/l": 1.0,
        "count/l": 1.0,
        "个/100ml": 10.0,
        "mpn/100ml": 10.0,
        "cfu/100ml": 10.0,
    },
    "cond": {"µs/cm": 1.0, "μs/cm": 1.0, "us/cm": 1.0, "ms/m": 10.0},
    "turb": {"ntu": 1.0},
    "algae": {"cells/l": 1.0, "个/l": 1.0, "万个/l": 1e4},
}

_WATER_TYPES = {
    "river": "river",
    "河流": "river",
    "河": "river",
    "lake": "lake",
    "湖库": "lake",
    "湖泊": "lake",
    "水库": "lake",
    "湖": "lake",
}
_MISSING = {"", "-", "--", "—", "/", "nan"}
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_PLAIN = re.compile(rf"^{_NUM}$")
_BELOW = [
    re.compile(rf"^(?:<|≤|<=)\s*({_NUM})$"),
    re.compile(rf"^({_NUM})\s*[lL]$"),
    re.compile(rf"^(?:nd|未检出)\s*\(\s*({_NUM})\s*\)$", re.I),
]
_BARE_ND = re.compile(r"^(?:nd|未检出|n\.d\.)$", re.I)
_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]+(\d{1,2})\s*[:：时]\s*(\d{1,2})(?:\s*[:：分]\s*(\d{1,2}))?\s*秒?)?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_BRACKETS = re.compile(r"[(（]([^)）]*)[)）]")
_HALF_WIDTH = str.maketrans({"（": "(", "）": ")", "＜": "<", "：": ":", "．": ".", "　": " "})


@dataclass
class _Table:
    header_row: int  # Excel row number of the header
    header: list[str]
    rows: list[tuple[int, list[Any]]]  # (Excel row number, cells)


@dataclass(frozen=True)
class _Column:
    index: int
    title: str
    key: str  # canonical column
    factor: float = 1.0


def read(
    payload: bytes,
    *,
    name: str,
    known_sites: pd.DataFrame,
    add_sites: bool = False,
    tz: str = "Asia/Shanghai",
) -> Reading:
    """Parse a lab sheet (CSV or XLSX bytes); see the module docstring for the format.

    `known_sites`: the registry, with ``site_id`` (or ``id``) and ``name`` columns; if it has a
    ``kind`` column only ``water`` sites are matched. `name` is used in messages (the file name).
    """
    zone = ZoneInfo(tz)
    table = _table(payload, name)
    columns, rejects = _columns(table.header)
    registry = _Registry(known_sites)
    by_key = {c.key: c for c in columns}

    def cell(cells: list[Any], key: str) -> Any:
        col = by_key.get(key)
        return cells[col.index] if col is not None and col.index < len(cells) else None

    # First pass: which section each row is, and the water type of sections added here.
    resolved: dict[int, str | None] = {}
    new_types: dict[str, str] = {}
    for row_no, cells in table.rows:
        text = _text(cell(cells, "section"))
        if not text:
            rejects.append(
                Reject(location=f"row {row_no}", reason="no section; write the section name")
            )
            resolved[row_no] = None
            continue
        site_id, problem, unknown = registry.match(text)
        if site_id is None and not (add_sites and unknown):
            rejects.append(Reject(location=f"row {row_no}", reason=problem, raw=text))
            resolved[row_no] = None
            continue
        if site_id is None:
            site_id = text
            wtype = _WATER_TYPES.get(_text(cell(cells, "water_type")).lower())
            if wtype:
                new_types.setdefault(site_id, wtype)
        resolved[row_no] = site_id

    records: list[tuple[str, str, datetime, float, str, str]] = []
    sites: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, datetime]] = set()
    for row_no, cells in table.rows:
        site_id = resolved[row_no]
        if site_id is None:
            continue
        where = f"row {row_no}"
        is_new = site_id not in registry.ids
        if is_new and site_id not in new_types:
            rejects.append(
                Reject(
                    location=where,
                    site_id=site_id,
                    reason=(
                        f"new section {site_id!r} needs a water_type (河流/湖库, river/lake) "
                        "in at least one of its rows; row skipped"
                    ),
                )
            )
            continue
        when, problem = _sampled_at(cell(cells, "sampled_at"), zone)
        if when is None:
            rejects.append(
                Reject(
                    location=f"{where}, {_title(by_key, 'sampled_at')}",
                    site_id=site_id,
                    reason=f"{problem}; row skipped",
                    raw=_text(cell(cells, "sampled_at")),
                )
            )
            continue
        if (site_id, when) in seen:
            rejects.append(
                Reject(
                    location=where,
                    site_id=site_id,
                    period_end=when.isoformat(),
                    reason="a second row for this section and time; the first was kept",
                )
            )
            continue
        seen.add((site_id, when))

        site = sites.setdefault(
            site_id,
            {
                "site_id": site_id,
                "name": registry.names.get(site_id, site_id),
                "water_type": new_types.get(site_id),
                "lon": None,
                "lat": None,
                "control_level": None,
                "target_class": None,
                "new": is_new,
            },
        )
        if is_new:
            # a section added from the sheet may say its control level and target class
            level = _text(cell(cells, "control_level"))
            if level:
                if level in _CONTROL_LEVELS:
                    site["control_level"] = site["control_level"] or level
                else:
                    rejects.append(
                        Reject(
                            location=f"{where}, {_title(by_key, 'control_level')}",
                            site_id=site_id,
                            reason=f"control level {level!r} is not one of {'/'.join(_CONTROL_LEVELS)}",
                            raw=level,
                        )
                    )
            target = _text(cell(cells, "target_class")).replace("类", "").strip()
            if target:
                target_number = _CLASS_TEXT.get(target.upper()) or _CLASS_TEXT.get(target)
                if target_number is None:
                    rejects.append(
                        Reject(
                            location=f"{where}, {_title(by_key, 'target_class')}",
                            site_id=site_id,
                            reason=f"target class {target!r} is not Ⅰ-Ⅴ (or 1-5)",
                            raw=target,
                        )
                    )
                else:
                    site["target_class"] = site["target_class"] or target_number
        wt_text = _text(cell(cells, "water_type"))
        if wt_text:
            wtype = _WATER_TYPES.get(wt_text.lower())
            expected = new_types.get(site_id) or registry.types.get(site_id)
            if wtype is None or (expected is not None and wtype != expected):
                why = (
                    "is not river/lake (河流/湖库)"
                    if wtype is None
                    else f"disagrees with {expected!r} "
                    + ("in an earlier row" if is_new else "in the site registry")
                )
                rejects.append(
                    Reject(
                        location=f"{where}, {_title(by_key, 'water_type')}",
                        site_id=site_id,
                        reason=f"water_type {wt_text!r} {why}; {expected or 'nothing'} is used",
                        raw=wt_text,
                    )
                )
            elif site["water_type"] is None:
                site["water_type"] = wtype
        for key in ("lon", "lat"):
            raw = cell(cells, key)
            if _text(raw) == "":
                continue
            number = _number(raw)
            low, high = (73.0, 136.0) if key == "lon" else (3.0, 54.0)
            if number is None or not low <= number <= high:
                rejects.append(
                    Reject(
                        location=f"{where}, {_title(by_key, key)}",
                        site_id=site_id,
                        reason=f"{key} must be a WGS-84 degree inside China ({low}-{high})",
                        raw=_text(raw),
                    )
                )
            elif site[key] is None:
                site[key] = number

        for col in columns:
            if col.key not in PARAMETERS:
                continue
            raw = cells[col.index] if col.index < len(cells) else None
            try:
                parsed = _value(raw, col)
            except _BadCell as bad:
                rejects.append(
                    Reject(
                        location=f"{where}, {col.title}",
                        site_id=site_id,
                        parameter=col.key,
                        period_end=when.isoformat(),
                        reason=str(bad),
                        raw=_text(raw),
                    )
                )
                continue
            if parsed is not None:
                value, flag = parsed
                records.append((site_id, col.key, when, value, PARAMETERS[col.key].unit, flag))

    return Reading(
        observations=_observations(records),
        rejects=sorted(rejects, key=_sheet_order),
        sites=pd.DataFrame(
            list(sites.values()),
            columns=[
                "site_id",
                "name",
                "water_type",
                "lon",
                "lat",
                "control_level",
                "target_class",
                "new",
            ],
        ),
    )


def _sheet_order(reject: Reject) -> int:
    """Header problems first, then by row as staff read the sheet (the sort is stable)."""
    m = re.match(r"row (\d+)", reject.location)
    return int(m.group(1)) if m else 0


class _Registry:
    """Look sections up by id or name, with suggestions for misspellings."""

    def __init__(self, known: pd.DataFrame) -> None:
        frame = known
        if "kind" in frame.columns:
            frame = frame[frame["kind"].astype(str) == "water"]
        id_col = "site_id" if "site_id" in frame.columns else "id"
        if id_col not in frame.columns or "name" not in frame.columns:
            raise ValueError("known_sites needs site_id (or id) and name columns")
        ids = [str(i) for i in frame[id_col]]
        names = [str(n) for n in frame["name"]]
        self.ids = set(ids)
        self.names = dict(zip(ids, names, strict=True))
        self.types: dict[str, str] = {}
        if "water_type" in frame.columns:
            self.types = {
                i: str(t) for i, t in zip(ids, frame["water_type"], strict=True) if pd.notna(t)
            }
        self.by_name: dict[str, list[str]] = {}
        for i, n in zip(ids, names, strict=True):
            self.by_name.setdefault(_squash(n), []).append(i)
        self.by_id = {_squash(i): i for i in ids}

    def match(self, text: str) -> tuple[str | None, str, bool]:
        """(site_id, '', False) for a known section, else (None, why not, is it unknown)."""
        key = _squash(text)
        if key in self.by_id:
            return self.by_id[key], "", False
        hits = self.by_name.get(key, [])
        if len(hits) == 1:
            return hits[0], "", False
        if hits:
            ids = ", ".join(sorted(hits))
            return (
                None,
                f"section {text!r} is the name of {len(hits)} sites; write the id: {ids}",
                False,
            )
        close = difflib.get_close_matches(key, [*self.by_id, *self.by_name], n=3, cutoff=0.5)
        shown: list[str] = []
        for c in close:
            for i in [self.by_id[c]] if c in self.by_id else self.by_name[c]:
                label = f"{self.names[i]} ({i})" if self.names[i] != i else i
                if label not in shown:
                    shown.append(label)
        hint = f"; did you mean {' or '.join(shown[:3])}?" if shown else "."
        return (
            None,
            f"unknown section {text!r}{hint} Fix the name, add the section to stations.yaml, "
            "or load the sheet with --add-sites",
            True,
        )


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text.translate(_HALF_WIDTH))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).translate(_HALF_WIDTH).strip()


def _title(by_key: dict[str, _Column], key: str) -> str:
    col = by_key.get(key)
    return col.title if col is not None else key


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    text = _text(value)
    return float(text) if _PLAIN.match(text) else None


class _BadCell(Exception):
    """A cell that cannot be used; the message tells staff what to write instead."""


def _value(raw: Any, col: _Column) -> tuple[float, str] | None:
    """(value in the canonical unit, flag) of a parameter cell; None if not measured.

    Raises `_BadCell` with the reason when the cell cannot be used.
    """
    number = _number(raw)
    flag = ""
    if number is None:
        text = _text(raw)
        if text.lower() in _MISSING:
            return None
        matches = (p.match(text) for p in _BELOW)
        m = next((m for m in matches if m), None)
        if m is None and _BARE_ND.match(text):
            raise _BadCell(
                f"{text!r} has no detection limit; write it as ND(0.01), 0.01L or <0.01 "
                "with the method's limit"
            )
        if m is None:
            raise _BadCell(
                f"{text!r} is not a number; write a number such as 0.12, 0.01L or <0.01 "
                "for below detection, or leave the cell empty"
            )
        number, flag = float(m.group(1)) / 2, "below_detection"
    if number < 0 and col.key != "temp":
        raise _BadCell(f"{col.title} cannot be negative; check the value")
    value = number * col.factor
    if col.key == "ph" and not 0 <= value <= 14:
        raise _BadCell("pH must be between 0 and 14; check the value")
    return value, flag


def _local_datetime(text: str) -> datetime | None:
    m = _DATE.match(text) or _COMPACT_DATE.match(text)
    if not m:
        return None
    parts = [int(g) if g else 0 for g in m.groups()]
    parts += [0] * (6 - len(parts))
    try:
        return datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
    except ValueError:  # 2026-02-30, 25:00 ...
        return None


def _sampled_at(value: Any, zone: ZoneInfo) -> tuple[datetime | None, str]:
    """The sampling instant in UTC, or (None, what is wrong)."""
    utc = ZoneInfo("UTC")
    local: datetime | None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(utc), ""
        local = value
    elif isinstance(value, date):
        local = datetime.combine(value, time())
    else:
        text = _text(value)
        if not text:
            return None, "no sampled_at; write the sampling date, e.g. 2026-08-03 09:30"
        if isinstance(value, float) and value.is_integer():
            text = str(int(value))
        local = _local_datetime(text)
        if local is None:
            hint = " (format the column as a date in Excel)" if _number(value) else ""
            return None, (
                f"sampled_at {text!r} is not a date{hint}; write it as 2026-08-03 or "
                "2026-08-03 09:30"
            )
    return local.replace(tzinfo=zone).astimezone(utc), ""


def _normalise(title: str) -> tuple[str, str]:
    """(lookup key, unit) of a header cell: ``'总磷(以P计)(mg/L)'`` -> ``('总磷', 'mg/l')``.

    Brackets may hold a unit (the last bracket), a note starting with 以 ("as P") or be part of
    the name (``铬(六价)``).
    """
    text = re.sub(r"\s+", "", _text(title)).lower()
    brackets = list(_BRACKETS.finditer(text))
    candidates: list[tuple[str, str]] = []
    if brackets:
        last = brackets[-1]
        unit = last.group(1)
        unit = "" if unit.startswith("以") else unit
        candidates.append((_BRACKETS.sub("", text), unit))
        candidates.append((text[: last.start()] + text[last.end() :], unit))
    candidates.append((text, ""))
    for key, unit in candidates:
        if key in COLUMN_ALIASES:
            return key, unit
    return candidates[0]


def _columns(header: list[str]) -> tuple[list[_Column], list[Reject]]:
    columns: list[_Column] = []
    rejects: list[Reject] = []
    taken: dict[str, str] = {}
    for index, title in enumerate(header):
        shown = _text(title)
        if not shown:
            continue
        label, unit = _normalise(shown)
        key = COLUMN_ALIASES.get(label)
        if key is None:
            close = difflib.get_close_matches(label, list(COLUMN_ALIASES), n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            rejects.append(
                Reject(
                    location="header",
                    reason=(
                        f"column {shown!r} is not a known parameter{hint} and was ignored; "
                        "name it with a code or Chinese name of standards/WATER.md"
                    ),
                    raw=shown,
                )
            )
            continue
        if key in taken:
            rejects.append(
                Reject(
                    location="header",
                    reason=f"column {shown!r} repeats {taken[key]!r} and was ignored",
                    raw=shown,
                )
            )
            continue
        factor = 1.0
        if key in PARAMETERS:
            table = _UNITS.get(key, _CONCENTRATION)
            if unit and unit not in table:
                rejects.append(
                    Reject(
                        location="header",
                        parameter=key,
                        reason=(
                            f"column {shown!r}: unit {unit!r} is not understood and the column "
                            f"was ignored; use {' or '.join(list(table)[:2])}"
                        ),
                        raw=shown,
                    )
                )
                continue
            factor = table.get(unit, 1.0)
        taken[key] = shown
        columns.append(_Column(index=index, title=shown, key=key, factor=factor))
    return columns, rejects


def _find_header(rows: list[tuple[int, list[Any]]]) -> int | None:
    """Index in `rows` of the header (a row with section and sampled_at columns)."""
    for i, (_, cells) in enumerate(rows[:_HEADER_SEARCH_ROWS]):
        keys = {COLUMN_ALIASES.get(_normalise(_text(c))[0]) for c in cells}
        if {"section", "sampled_at"} <= keys:
            return i
    return None


def _split(rows: list[tuple[int, list[Any]]], where: str, name: str) -> _Table:
    h = _find_header(rows)
    if h is None:
        raise ParseError(
            f"lab sheet {name}: no header row with a section (断面名称) and a sampled_at "
            f"(采样时间) column in the first {_HEADER_SEARCH_ROWS} rows{where}; add them "
            "(see data/examples/lab-sheet-example.csv)"
        )
    header_row, header = rows[h]
    body = [(n, cells) for n, cells in rows[h + 1 :] if any(_text(c) for c in cells)]
    return _Table(header_row=header_row, header=[_text(c) for c in header], rows=body)


def _table(payload: bytes, name: str) -> _Table:
    rows, where = table_rows(
        payload, kind="lab sheet", name=name, has_header=lambda r: _find_header(r) is not None
    )
    return _split(rows, where, name)


def _observations(records: list[tuple[str, str, datetime, float, str, str]]) -> pd.DataFrame:
    frame = empty_observations()
    if not records:
        return frame
    site_id, parameter, when, value, unit, flag = zip(*records, strict=True)
    return pd.DataFrame(
        {
            "site_id": pd.Series(site_id, dtype=object),
            "parameter": pd.Series(parameter, dtype=object),
            "averaging": pd.Series(["sample"] * len(records), dtype=object),
            "period_end": pd.to_datetime(list(when), utc=True).as_unit("ns"),
            "value": pd.Series(value, dtype="float64"),
            "unit": pd.Series(unit, dtype=object),
            "flag": pd.Series(flag, dtype=object),
        },
        columns=frame.columns,
    )
