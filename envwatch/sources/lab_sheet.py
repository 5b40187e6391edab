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

- The table is read by `sheet.read_sheet`, like every staff sheet: format by content, the
  header among the first `sheet.HEADER_SEARCH_ROWS` rows (title rows above it are allowed),
  row numbers as staff see them in Excel, the same not-given marks, number parser, size limits
  and China box. A sheet with a header and no data rows is a `ParseError`.
- Units: concentrations are stored in mg/L; a column in µg/L (also ``μg/L``, ``ug/L``) or ng/L
  is converted. Fecal coliform in count/L (个/L, MPN/L; per 100 mL x 10). A column whose unit is
  not understood is rejected once (location ``row N (header)``) and skipped. The bracket after
  a parameter's name is its unit unless it is a note (``以P计``) or another name of the
  parameter (``氨氮(NH3-N)``).
- Values: one number parser for all sheets (`sheet.number`): ``1,234.5`` is 1234.5; a decimal
  comma (``0,520``) is rejected naming the cell. Negative values are rejected (except water
  temperature). Plausibility (pH 0-14 ...) is checked centrally for every source, so pH 20 is
  passed on as the number 20, not refused here as "not a number".
- Below detection: ``0.05L``, ``<0.05`` (``＜``, ``≤``) and ``ND(0.05)`` / ``未检出(0.05)`` are
  stored at half the limit with flag ``below_detection``. A bare ``ND`` or ``未检出`` is rejected:
  it carries no detection limit, and the class needs one; write ``ND(0.01)`` or ``0.01L``.
- Empty cells and the not-given marks of `sheet.MISSING_MARKS` (``-``, ``/``, ``—``, ``——``,
  ``null``, ``NA`` ...) mean not measured: no observation.
- ``sampled_at`` is local time in `tz` (China Standard Time by default) and stored in UTC. A
  date without a time is taken as local 00:00 of that date. A sampling time more than an hour
  after `now` is rejected (row skipped), as is a second row for the same section and time.
- Sections are resolved by `sites.resolve` (as outfalls and air stations are): an unknown
  section is rejected with a "did you mean" suggestion. With ``add_sites=True`` it is added:
  its id and name are the text as written, and a water_type is required (from any of its rows);
  without one its rows are rejected.
- Unknown columns are reported once each as a `Reject` at location ``row N (header)`` (with a
  suggestion) and ignored; the rest of the sheet lands.
- `Reading.sites` has one row per section the sheet mentions: site_id, name, water_type, lon,
  lat (as the sheet gives them, else missing) and ``new`` (True for a section added here).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from envwatch.sources import sheet
from envwatch.sources import sites as site_rules
from envwatch.sources.base import Reading, Reject
from envwatch.sources.sheet import BadCell, Column, Row, RowRejects, Sheet
from envwatch.sources.sites import Resolved, SiteRegistry, resolve, resolve_rows
from envwatch.standards.water import PARAMETERS

__all__ = ["COLUMNS", "COLUMN_ALIASES", "SITE_COLUMNS", "read"]

KIND = "lab sheet"

_SPELLINGS = {
    "ph": ["pH", "ph值"],
    "codmn": ["高锰酸钾指数", "cod_mn"],
    "cod": ["codcr"],
    "bod5": ["bod"],
    "nh3n": ["nh3-n", "nh3_n", "氨氮(nh3-n)"],
    "cr6": ["铬(六价)", "cr6+"],
    "chla": ["叶绿素a"],
}
COLUMNS: dict[str, list[str]] = {
    **{code: [p.name, *_SPELLINGS.get(code, [])] for code, p in PARAMETERS.items()},
    "section": ["断面", "断面名称", "监测断面", "点位", "点位名称", "site", "site_id"],
    "sampled_at": ["采样时间", "监测时间", "采样日期", "监测日期"],
    "water_type": ["水体类型"],
    "lon": ["经度"],
    "lat": ["纬度"],
    "control_level": ["控制级别", "断面级别"],
    "target_class": ["目标类别", "水质目标", "目标水质"],
}
"""Canonical column -> the names staff may give it (matched ignoring case, width and spaces)."""

COLUMN_ALIASES: dict[str, str] = sheet.aliases(COLUMNS)
"""Matching form of a header name -> canonical column."""

SITE_COLUMNS = [
    "site_id",
    "name",
    "water_type",
    "lon",
    "lat",
    "control_level",
    "target_class",
    "new",
]

_CONTROL_LEVELS = ("国控", "省控", "市控", "区控", "县控")
_CLASS_TEXT = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "Ⅰ": 1, "Ⅱ": 2, "Ⅲ": 3, "Ⅳ": 4, "Ⅴ": 5,
               "I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}  # fmt: skip

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
_LAST_BRACKET = re.compile(r"[(\[【]([^)\]】]*)[)\]】]$")


LAYOUT = sheet.Layout(
    KIND,
    COLUMN_ALIASES,
    required=[("section",), ("sampled_at",)],
    wanted="a section (断面名称) and a sampled_at (采样时间) column",
)


def read(
    payload: bytes,
    *,
    name: str,
    known_sites: pd.DataFrame,
    add_sites: bool = False,
    tz: str = "Asia/Shanghai",
    now: datetime | None = None,
) -> Reading:
    """Parse a lab sheet (CSV or XLSX bytes); see the module docstring for the format.

    `known_sites`: the registry, with ``site_id`` (or ``id``) and ``name`` columns; if it has a
    ``kind`` column only ``water`` sites are matched. `name` is used in messages (the file name).
    `now` (aware; default: the current time) bounds the sampling times.
    """
    now = sheet.check_now(now or datetime.now(UTC))
    zone = ZoneInfo(tz)
    table = sheet.read_sheet(payload, LAYOUT, name=name)
    rejects = list(table.rejects)
    factors = _parameter_columns(table, rejects)
    registry = SiteRegistry(known_sites, "water")
    known_types = registry.column("water_type")

    # First pass: which section each row is, and the water type of sections added here.
    resolved, new_types = resolve_rows(
        table.rows,
        lambda row: _identify(table, row, registry, add_sites),
        lambda row: _WATER_TYPES.get(table.text(row, "water_type").lower()),
        rejects,
    )

    # Second pass: each row's time and values, once per section and time.
    rules = site_rules.RowRules(
        time_of=lambda row, reject: _sampled_at(table, row, zone, now, reject),
        untyped=lambda site_id: (
            f"new section {site_id!r} needs a water_type (河流/湖库, river/lake) in at least "
            "one of its rows; row skipped"
        ),
        duplicate=lambda first: (
            f"a second row for this section and time (duplicate of row {first}); the first was kept"
        ),
    )
    records: list[tuple[str, str, datetime, float, str, str]] = []
    sites: dict[str, dict[str, Any]] = {}
    rows = site_rules.timed_rows(table, resolved, new_types, rejects, rules)
    for row, found, reject, when in rows:
        site_id, is_new = found.site_id, found.new
        site = sites.setdefault(
            site_id,
            {
                "site_id": site_id,
                "name": registry.names.get(site_id, site_id),
                "water_type": new_types.get(site_id),
                "new": is_new,
            },
        )
        if is_new:
            _new_section(table, row, site, reject)
        _water_type(table, row, site, new_types.get(site_id) or known_types.get(site_id), reject)
        try:
            point = sheet.coordinates(table.get(row, "lon"), table.get(row, "lat"))
        except BadCell as bad:
            reject(str(bad), "lon", f"{table.text(row, 'lon')}, {table.text(row, 'lat')}")
        else:
            if point is not None and site.get("lon") is None:
                site["lon"], site["lat"] = point
        for key, (col, factor) in factors.items():
            try:
                got = _value(table, row, col, factor)
            except BadCell as bad:
                reject(str(bad), key, parameter=key, period_end=when.isoformat())
                continue
            if got is not None:
                records.append((site_id, key, when, got[0], PARAMETERS[key].unit, got[1]))

    return site_rules.sited_reading(records, "sample", rejects, sites.values(), SITE_COLUMNS)


def _identify(table: Sheet, row: Row, registry: SiteRegistry, add_sites: bool) -> Resolved | Reject:
    """The row's section, or the Reject saying why not."""
    written = table.text(row, "section")
    found = resolve(registry, [written], noun="section", add_sites=add_sites)
    if isinstance(found, str):
        return Reject(location=table.where(row), reason=found, raw=written or table.raw(row))
    return found


def _parameter_columns(table: Sheet, rejects: list[Reject]) -> dict[str, tuple[Column, float]]:
    """The parameter columns with the factor to their canonical unit; a column whose unit is not
    understood is rejected once (at the header) and left out."""
    out: dict[str, tuple[Column, float]] = {}
    where = f"row {table.header_row} (header)"
    for key, col in table.columns.items():
        if key not in PARAMETERS:
            continue
        unit = _header_unit(col)
        units = sheet.UNITS[PARAMETERS[key].unit]
        factor = sheet.unit_factor(unit, PARAMETERS[key].unit)
        if factor is None:
            rejects.append(
                Reject(
                    location=where,
                    parameter=key,
                    reason=(
                        f"column {col.title!r}: unit {unit!r} is not understood and the column "
                        f"was ignored; use {' or '.join(list(units)[:2])}"
                    ),
                    raw=col.title,
                )
            )
            continue
        out[key] = (col, factor)
    return out


def _header_unit(col: Column) -> str:
    """The unit of a parameter column: the header's unit, or its last bracket when that is
    neither a note (``以P计``) nor part or another name of the parameter (``铬(六价)``,
    ``氨氮(NH3-N)``)."""
    if col.unit:
        return col.unit
    title = sheet.squash(col.title)
    m = _LAST_BRACKET.search(title)
    if m is None or m.group(1).startswith("以"):
        return ""
    inside, rest = m.group(1), title[: m.start()]
    if COLUMN_ALIASES.get(inside) == col.key or COLUMN_ALIASES.get(rest) != col.key:
        return ""
    return inside


def _value(table: Sheet, row: Row, col: Column, factor: float) -> tuple[float, str] | None:
    """(value in the canonical unit, flag) of a parameter cell; None if not measured.

    Raises `BadCell` with the reason when the cell cannot be used.
    """
    got = sheet.measured(row.cells[col.index] if col.index < len(row.cells) else None)
    if got is None:
        return None
    number, flag, cell_unit = got
    if cell_unit:
        cell_factor = sheet.unit_factor(cell_unit, PARAMETERS[col.key].unit)
        if cell_factor is None:
            raise BadCell(
                f"unit {cell_unit!r} in the cell does not convert to {PARAMETERS[col.key].unit}; "
                "write the number alone in the column's unit"
            )
        factor = cell_factor
    if number < 0 and col.key != "temp":
        raise BadCell(f"{col.title} cannot be negative; check the value")
    return number * factor, flag


def _sampled_at(
    table: Sheet, row: Row, zone: ZoneInfo, now: datetime, reject: RowRejects
) -> datetime | None:
    """The sampling instant in UTC; None (after a reject) when missing, bad or in the future."""
    raw = table.get(row, "sampled_at")
    if sheet.is_missing(raw):
        reject(
            "no sampled_at; write the sampling date, e.g. 2026-08-03 09:30; row skipped",
            "sampled_at",
        )
        return None
    try:
        when = sheet.local_instant(raw, zone)
    except BadCell as bad:
        reject(f"sampled_at {bad}; row skipped", "sampled_at")
        return None
    if sheet.future_instant(when, now):
        local = when.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        reject(
            f"sampling time {local} is in the future; check the date (row skipped)",
            "sampled_at",
            period_end=when.isoformat(),
        )
        return None
    return when


def _new_section(table: Sheet, row: Row, site: dict[str, Any], reject: RowRejects) -> None:
    """A section added from the sheet may say its control level and target class."""
    level = table.text(row, "control_level")
    if level:
        if level in _CONTROL_LEVELS:
            site["control_level"] = site.get("control_level") or level
        else:
            reject(
                f"control level {level!r} is not one of {'/'.join(_CONTROL_LEVELS)}",
                "control_level",
            )
    target = sheet.norm(table.text(row, "target_class")).replace("类", "").strip()
    if target:
        number = _CLASS_TEXT.get(target.upper()) or _CLASS_TEXT.get(target)
        if number is None:
            reject(f"target class {target!r} is not Ⅰ-Ⅴ (or 1-5)", "target_class", target)
        else:
            site["target_class"] = site.get("target_class") or number


def _water_type(
    table: Sheet, row: Row, site: dict[str, Any], expected: str | None, reject: RowRejects
) -> None:
    """Check a row's water_type against the registry's or an earlier row's."""
    written = table.text(row, "water_type")
    if not written:
        return
    wtype = _WATER_TYPES.get(written.lower())
    if wtype is None or (expected is not None and wtype != expected):
        why = (
            "is not river/lake (河流/湖库)"
            if wtype is None
            else f"disagrees with {expected!r} "
            + ("in an earlier row" if site["new"] else "in the site registry")
        )
        reject(f"water_type {written!r} {why}; {expected or 'nothing'} is used", "water_type")
    elif site.get("water_type") is None:
        site["water_type"] = wtype
