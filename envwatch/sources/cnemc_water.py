"""Read one page of the CNEMC national automatic surface-water feed (国家地表水水质自动监测实时数据).

The feed answers ``POST /GJZ/Ajax/Publish.ashx`` (form: `form_fields`) with JSON::

    {"result": 1, "total": <pages>, "records": <rows>, "thead": [...], "tbody": [[...], ...]}

Columns are mapped by their header names (the ``<br/><span class='unit'>(...)</span>`` part is
stripped and its unit checked), so older headers with 站点情况 and a city column, and headers
without chla and algae, read the same way.

What `read` returns:

- one observation per measured value, ``averaging='sample'``, ``period_end`` the sampling time in
  UTC. The feed writes ``MM-DD HH:MM`` in China Standard Time (UTC+8) with no year: the year is
  the one that puts the reading latest but no more than `FUTURE_TOLERANCE` after `fetched_at`
  (a 12-31 23:00 reading fetched 2027-01-01 00:30 is from 2026).
- the raw value from ``<span title='原始值：26.58'>26.6</span>`` (not the rounded display), or a
  plain number. ``--`` is missing: no row.
- an item withheld because that day's QC failed (``title='当天质控不合格'``) becomes a row with
  ``flag='qc_withheld'`` and value NaN. This is the one exception to "value never NaN" of the
  reader contract: the fact that a value existed and was withheld is kept (it explains a gap
  and it is what CNEMC skips when classifying), and no other flag ever carries NaN. Drop these
  rows before averaging, or pivot them (NaN is skipped by `envwatch.standards.water`).
- the published class as its own parameter ``class_published`` (unit ``'1'``, 1-6, 6 = 劣Ⅴ);
  class ``-1`` (no data) gives no class row.
- site ids ``"{province}/{section}"`` (e.g. ``浙江省/姚江大桥``); `Reading.sites` has site_id,
  name (the section), province, basin (and city when the header has one).

A payload with nothing usable (not JSON, an HTML error page, ``result`` other than 1, no
thead/tbody, a header without province, section or time) raises `ParseError`; a bad row or cell
becomes a `Reject` and the rest of the page lands. `read_page` also returns the page count and
record count so a fetcher can request every page.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pandas as pd

from envwatch.errors import ParseError
from envwatch.redaction import redact
from envwatch.sources.base import Reading, Reject
from envwatch.sources.sheet import observations
from envwatch.standards.water import PARAMETERS

__all__ = [
    "FUTURE_TOLERANCE",
    "HEADER_MAP",
    "PageInfo",
    "form_fields",
    "read",
    "read_page",
]

CHINA_TZ = timezone(timedelta(hours=8), "CST")
"""China Standard Time, UTC+8 all year (no daylight saving)."""

FUTURE_TOLERANCE = timedelta(hours=6)
"""How far after `fetched_at` a reading may be stamped (clock skew) before it is taken as last
year's."""

HEADER_MAP: dict[str, str] = {
    "省份": "province",
    "流域": "basin",
    "断面名称": "section",
    "监测时间": "time",
    "水质类别": "class",
    "水温": "temp",
    "pH": "ph",
    "溶解氧": "do",
    "电导率": "cond",
    "浊度": "turb",
    "高锰酸盐指数": "codmn",
    "氨氮": "nh3n",
    "总磷": "tp",
    "总氮": "tn",
    "叶绿素α": "chla",
    "叶绿素a": "chla",
    "藻密度": "algae",
    "站点情况": "status",
    "城市": "city",
    "所属城市": "city",
    "地市": "city",
}
"""Header text (unit part stripped) -> canonical column or parameter code."""

_REQUIRED = ("province", "section", "time")
_SITE_COLUMNS = ("province", "basin", "city")
_NOT_VALUES = {"province", "basin", "section", "time", "class", "status", "city"}

# Units the feed prints in its headers, normalised, and the factor to the canonical unit.
_UNIT_FACTORS: dict[str, dict[str, float]] = {
    "temp": {"℃": 1.0, "°c": 1.0},
    "ph": {"无量纲": 1.0, "": 1.0},
    "cond": {"μs/cm": 1.0, "µs/cm": 1.0, "us/cm": 1.0},
    "turb": {"ntu": 1.0},
    "algae": {"cells/l": 1.0, "个/l": 1.0},
}
_MG_L = {"mg/l": 1.0, "μg/l": 0.001, "µg/l": 0.001, "ug/l": 0.001}

_TITLE_RAW = re.compile(r"""title\s*=\s*['"]原始值[：:]\s*([^'"]*)['"]""")
_TAGS = re.compile(r"<[^>]*>")
_HEADER_UNIT = re.compile(r"^(.*?)\s*[(（]([^)）]*)[)）]$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_TIME = re.compile(r"^(\d{1,2})-(\d{1,2})\s+(\d{1,2}):(\d{2})$")
_QC_WITHHELD = "当天质控不合格"
_MISSING = {"", "--", "-", "—", "&nbsp;"}


@dataclass(frozen=True)
class PageInfo:
    """What a page says about the whole result: `total_pages`, `records` (rows in all pages)
    and `rows` (rows in this page)."""

    total_pages: int
    records: int
    rows: int


def form_fields(
    area_id: str | int, page_index: int, page_size: int, *, river_id: str = "", mn_name: str = ""
) -> dict[str, str]:
    """The POST form of one page: `area_id` is a 6-digit province code (Zhejiang ``330000``,
    ``''`` for the whole country), `page_index` counts from 1."""
    if page_index < 1 or page_size < 1:
        raise ValueError("page_index and page_size count from 1")
    return {
        "action": "getRealDatas",
        "AreaID": str(area_id),
        "RiverID": river_id,
        "MNName": mn_name,
        "PageIndex": str(page_index),
        "PageSize": str(page_size),
    }


def read(payload: bytes, *, fetched_at: datetime, name: str = "<payload>") -> Reading:
    """Parse one page of the feed; see the module docstring. `fetched_at` must be tz-aware."""
    return read_page(payload, fetched_at=fetched_at, name=name)[0]


def _fail(name: str, what: str, todo: str) -> ParseError:
    return ParseError(f"cnemc-water {name}: {what}; {todo}")


def _load(payload: bytes, name: str) -> dict[str, Any]:
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(name, "the payload is not UTF-8 text", "check the URL and try again") from None
    stripped = text.lstrip()
    if not stripped:
        raise _fail(name, "the payload is empty", "the server may be down; try again later")
    if stripped.startswith("<"):
        title = re.search(r"<title[^>]*>(.*?)</title>", stripped, re.S | re.I)
        # Redact, then cut: a cut secret would no longer be recognised (issue 15).
        quoted = title.group(1) if title else stripped
        shown = redact(" ".join(quoted.split()), limit=80)
        raise _fail(
            name,
            f"the server sent an HTML page ({shown!r}), not JSON",
            "the feed may be down or its address changed; try again later or check the URL",
        )
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise _fail(
            name, f"not JSON ({exc.msg} at char {exc.pos})", "the download may be cut short"
        ) from None
    except RecursionError:
        raise _fail(name, "JSON nested too deeply", "this is not the feed's JSON") from None
    if not isinstance(data, dict):
        raise _fail(name, "JSON is not an object", "check the URL and the form fields")
    if data.get("result") != 1:
        raise _fail(
            name,
            f"the feed answered result={data.get('result')!r}, not 1",
            "the request was refused; check the form fields (AreaID, PageIndex) and try later",
        )
    for key in ("thead", "tbody"):
        if not isinstance(data.get(key), list):
            raise _fail(name, f"no '{key}' list in the JSON", "the feed format changed")
    return data


def _header(thead: list[Any], name: str) -> tuple[list[str | None], dict[str, float], list[str]]:
    """Column codes (None for unknown), unit factors by code, and the unknown header texts."""
    codes: list[str | None] = []
    factors: dict[str, float] = {}
    unknown: list[str] = []
    for raw in thead:
        text = _TAGS.sub("", str(raw)).strip()
        split = _HEADER_UNIT.match(text)
        label, unit = (split.group(1), split.group(2).strip().lower()) if split else (text, "")
        code = HEADER_MAP.get(label)
        codes.append(code)
        if code is None:
            unknown.append(label or text)
            continue
        if code in _NOT_VALUES:
            continue
        table = _UNIT_FACTORS.get(code, _MG_L)
        if unit and unit not in table:
            raise _fail(
                name,
                f"column {label!r} is in {unit!r}, expected {PARAMETERS[code].unit}",
                "the feed format changed; the reader needs the new unit",
            )
        factors[code] = table.get(unit, 1.0)
    absent = [c for c in _REQUIRED if c not in codes]
    if absent:
        shown = ", ".join(_TAGS.sub("", str(h)).strip() for h in thead)
        raise _fail(
            name,
            f"the header has no {', '.join(absent)} column (header: {shown})",
            "the feed format changed; the reader's HEADER_MAP needs the new names",
        )
    return codes, factors, unknown


def _cell_value(cell: Any) -> tuple[float | None, str, bool]:
    """(value, flag, ok) of a value cell: (None, '', True) for missing."""
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return (float(cell), "", True) if math.isfinite(cell) else (None, "", False)
    text = str(cell).strip()
    if _QC_WITHHELD in text:
        return math.nan, "qc_withheld", True
    raw = _TITLE_RAW.search(text)
    if raw:
        text = raw.group(1).strip()
    elif "<" in text:
        text = _TAGS.sub("", text).strip()
    if text in _MISSING:
        return None, "", True
    if _NUMBER.match(text):
        return float(text), "", True
    return None, "", False


def _year_for(month: int, day: int, hour: int, minute: int, fetched_local: datetime) -> datetime:
    """The latest local datetime with this month-day-time not after fetched + tolerance."""
    limit = fetched_local + FUTURE_TOLERANCE
    for year in (limit.year, limit.year - 1, limit.year - 2):
        try:
            candidate = datetime(year, month, day, hour, minute, tzinfo=CHINA_TZ)
        except ValueError:  # 02-29 in a common year
            continue
        if candidate <= limit:
            return candidate
    raise ValueError(f"no year fits {month:02d}-{day:02d}")


def _local_time(stamp: str, fetched_local: datetime) -> datetime | None:
    m = _TIME.match(stamp)
    if not m:
        return None
    month, day, hour, minute = (int(g) for g in m.groups())
    try:
        return _year_for(month, day, hour, minute, fetched_local)
    except ValueError:  # 13-01, 02-30, 25:00 ...
        return None


def _plausible(code: str, value: float) -> bool:
    if code == "temp":
        return -5.0 <= value <= 50.0
    if code == "ph":
        return 0.0 <= value <= 14.0
    return value >= 0.0


def read_page(
    payload: bytes, *, fetched_at: datetime, name: str = "<payload>"
) -> tuple[Reading, PageInfo]:
    """Parse one page; return the reading and the page information (see `PageInfo`)."""
    if fetched_at.tzinfo is None or fetched_at.utcoffset() is None:
        raise ValueError("fetched_at must be timezone-aware (e.g. datetime.now(timezone.utc))")
    data = _load(payload, name)
    codes, factors, unknown = _header(data["thead"], name)
    page = _Page(codes, factors, fetched_at.astimezone(CHINA_TZ))
    page.rejects.extend(
        Reject(
            location="header",
            reason=f"column {u!r} is not known to the reader and was skipped",
            raw=u,
        )
        for u in unknown
    )
    for r, row in enumerate(data["tbody"], start=1):
        page.add_row(f"tbody row {r}", row)
    col = page.col
    site_frame = pd.DataFrame(
        list(page.sites.values()),
        columns=["site_id", "name", *(c for c in _SITE_COLUMNS if c in col)],
    )
    info = PageInfo(
        total_pages=_int_or(data.get("total"), 1),
        records=_int_or(data.get("records"), len(data["tbody"])),
        rows=len(data["tbody"]),
    )
    reading = Reading(
        observations=observations(page.records, "sample"), rejects=page.rejects, sites=site_frame
    )
    return reading, info


@dataclass
class _Page:
    """The rows of one page read so far: observations, rejects and sections."""

    codes: list[str | None]
    factors: dict[str, float]
    fetched_local: datetime
    records: list[tuple[str, str, datetime, float, str, str]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    sites: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: set[tuple[str, datetime]] = field(default_factory=set)
    times: dict[str, datetime | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.col = {c: i for i, c in reversed(list(enumerate(self.codes))) if c is not None}

    def add_row(self, where: str, row: Any) -> None:
        """Read one tbody row: its section, time, published class and values."""
        key = self._row_key(where, row)
        if key is None:
            return
        site_id, utc, cells = key
        site = self.sites.setdefault(
            site_id, {"site_id": site_id, "name": cells[self.col["section"]]}
        )
        for name in _SITE_COLUMNS:
            if name in self.col and cells[self.col[name]]:
                site.setdefault(name, cells[self.col[name]])
        self._add_class(where, site_id, utc, cells)
        self._add_values(where, site_id, utc, row)

    def _reject(self, where: str, reason: str, **fields: Any) -> None:
        self.rejects.append(Reject(location=where, reason=reason, **fields))

    def _row_key(self, where: str, row: Any) -> tuple[str, datetime, list[str]] | None:
        """(section id, UTC time, cell texts) of a row, or None after rejecting it."""
        if not isinstance(row, list) or len(row) != len(self.codes):
            count = len(row) if isinstance(row, list) else "no"
            raw = redact(json.dumps(row, ensure_ascii=False), limit=200)
            reason = f"{count} cells where the header has {len(self.codes)}; row skipped"
            self._reject(where, reason, raw=raw)
            return None
        cells = [str(c).strip() if c is not None else "" for c in row]
        province, section = cells[self.col["province"]], cells[self.col["section"]]
        if not province or not section:
            self._reject(where, "no province or section name; row skipped")
            return None
        site_id = f"{province}/{section}"
        stamp = cells[self.col["time"]]
        if stamp not in self.times:
            self.times[stamp] = _local_time(stamp, self.fetched_local)
        when = self.times[stamp]
        if when is None:
            reason = "time is not MM-DD HH:MM; row skipped"
            self._reject(where, reason, site_id=site_id, raw=redact(stamp, limit=200))
            return None
        utc = when.astimezone(UTC)
        if (site_id, utc) in self.seen:
            reason = "a second row for this section and time; the first was kept"
            self._reject(where, reason, site_id=site_id, period_end=utc.isoformat())
            return None
        self.seen.add((site_id, utc))
        return site_id, utc, cells

    def _add_class(self, where: str, site_id: str, utc: datetime, cells: list[str]) -> None:
        if "class" not in self.col:
            return
        text = cells[self.col["class"]]
        if text in {"1", "2", "3", "4", "5", "6"}:
            self.records.append((site_id, "class_published", utc, float(text), "1", ""))
        elif text not in {"-1", *_MISSING}:
            self._reject(
                f"{where}, 水质类别",
                "class is not 1-6 or -1; skipped",
                site_id=site_id,
                parameter="class_published",
                period_end=utc.isoformat(),
                raw=redact(text, limit=200),
            )

    def _add_values(self, where: str, site_id: str, utc: datetime, row: list[Any]) -> None:
        for j, code in enumerate(self.codes):
            if code is None or code in _NOT_VALUES:
                continue
            value, flag, ok = _cell_value(row[j])
            if ok and value is not None and not math.isnan(value):
                value *= self.factors[code]
                ok = _plausible(code, value)
            if not ok:
                self._reject(
                    f"{where}, {PARAMETERS[code].name}",
                    "not a number, '--' or a 原始值 title; value skipped",
                    site_id=site_id,
                    parameter=code,
                    period_end=utc.isoformat(),
                    raw=redact(str(row[j]), limit=200),
                )
            elif value is not None:
                self.records.append((site_id, code, utc, value, PARAMETERS[code].unit, flag))


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
