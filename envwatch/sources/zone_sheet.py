"""Read the register of zero-discharge zones (污水零直排区) from a staff sheet or a GeoJSON file.

A zone is an industrial park, a residential estate or a whole town that builds separate rain and
sewage networks and is then accepted (验收) and re-inspected (复核). One row (or GeoJSON feature)
per zone. Columns, or feature properties (English key or any Chinese name):

===================  ===========================================================================
``zone_id``          编号 / 区域编号 / 零直排区编号, optional: the zone's id (default: its name)
``name``             名称 / 区域名称 / 零直排区名称 / 零直排区: required
``zone_type``        类型 / 区域类型: 工业园区 / 工业集聚区 / 园区 -> ``industrial``;
                     生活小区 / 住宅小区 / 小区 -> ``residential``; 镇街 / 乡镇 / 街道 / 镇 ->
                     ``town``; 其他 / other -> ``other``; an empty cell (or no column) is ``other``
``status``           状态 / 建设状态 / 创建状态: 创建中 / 建设中 / 在建 -> ``building``;
                     已验收 / 通过验收 -> ``accepted``; 已复核 / 复验 / 通过复核 ->
                     ``reinspected``; required
``town``             所属镇街 / 镇街 / 所属街道, optional
``started_on``       开工日期 / 启动日期 / 开始日期, optional
``due_on``           计划完成 / 计划完成日期 / 验收期限 / 完成期限, optional
``accepted_on``      验收日期 / 验收时间 / 通过验收日期: required when the status is accepted
``reinspected_on``   复核日期 / 复验日期: required when the status is reinspected
``lon``, ``lat``     经度, 纬度: WGS-84, optional (a GeoJSON outline gives them)
``geometry``         边界 / 范围 / geometry, optional in a sheet: GeoJSON geometry text or WKT
``note``             备注 / 说明: ignored (序号 too)
===================  ===========================================================================

Dates are local calendar dates (Excel dates, ``2026-08-03``, ``2026年8月3日`` ...) and stay
`datetime.date`. ``started_on``, ``accepted_on`` and ``reinspected_on`` after today (in `tz`,
from `now`) are rejected; ``due_on`` may lie ahead.

A GeoJSON ``FeatureCollection`` (detected by content; WGS-84 as GeoJSON requires, CGCS2000
accepted) carries the same fields in each feature's properties and the zone's outline as its
geometry; ``lon``/``lat`` are then a point inside the outline (shapely's
``representative_point``). A ``crs`` other than WGS-84/CGCS2000 is refused. Messages name
``feature N`` (counting from 1) instead of a row.

`Reading.records`: one row per zone, columns `RECORD_COLUMNS`: ``zone_id``, ``name``,
``zone_type``, ``status``, ``town`` (None when not given), ``started_on``, ``due_on``,
``accepted_on``, ``reinspected_on`` (`datetime.date` or None), ``lon``, ``lat`` (float64, NaN
when not given), ``geometry`` (GeoJSON geometry as JSON text, or None). Observations are empty.

Rejects (the other rows still land): no name, an unknown type or status, a status without its
date ("fill 验收日期"), 创建中 with a 验收日期 or 复核日期, a date in the future, a date that is not a date, coordinates outside
China, an outline that is not a GeoJSON geometry, a second row with the same zone_id
("duplicate of row N").
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import shapely
from shapely.geometry import mapping, shape

from envwatch.errors import ParseError
from envwatch.sources import sheet
from envwatch.sources.base import Reading
from envwatch.sources.sheet import IGNORED, BadCell, Row, Sheet

__all__ = ["COLUMNS", "RECORD_COLUMNS", "STATUSES", "ZONE_TYPES", "read"]

KIND = "zone sheet"

COLUMNS: dict[str, list[str]] = {
    "zone_id": ["编号", "区域编号", "零直排区编号", "代码", "id"],
    "name": [
        "名称",
        "区域名称",
        "零直排区名称",
        "零直排区",
        "创建区域",
        "区域",
        "zone",
        "zone_name",
    ],
    "zone_type": ["类型", "区域类型", "类别", "type"],
    "status": ["状态", "建设状态", "创建状态", "进度", "当前状态"],
    "town": ["所属镇街", "镇街", "所属街道", "所属乡镇", "乡镇街道"],
    "started_on": ["开工日期", "启动日期", "开始日期", "开工时间", "启动时间", "start", "started"],
    "due_on": [
        "计划完成",
        "计划完成日期",
        "计划完成时间",
        "验收期限",
        "完成期限",
        "计划验收日期",
        "due",
        "deadline",
    ],
    "accepted_on": ["验收日期", "验收时间", "通过验收日期", "通过验收时间", "accepted"],
    "reinspected_on": ["复核日期", "复核时间", "复验日期", "复验时间", "reinspected"],
    "lon": ["经度", "longitude", "lng"],
    "lat": ["纬度", "latitude"],
    "geometry": ["边界", "范围", "区域范围", "wkt", "geojson"],
    # what GIS exports add to every feature
    IGNORED: ["objectid", "fid", "shape_area", "shape_leng", "shape_length", "面积"],
}
"""Canonical column -> the names staff may give it (matched ignoring case, width and spaces)."""

_LOOKUP = sheet.aliases(COLUMNS)

ZONE_TYPES: dict[str, str] = {
    "industrial": "industrial",
    "工业园区": "industrial",
    "工业集聚区": "industrial",
    "工业区": "industrial",
    "园区": "industrial",
    "工业功能区": "industrial",
    "化工区": "industrial",
    "residential": "residential",
    "生活小区": "residential",
    "住宅小区": "residential",
    "居民小区": "residential",
    "小区": "residential",
    "town": "town",
    "镇街": "town",
    "乡镇": "town",
    "街道": "town",
    "镇": "town",
    "乡镇街道": "town",
    "other": "other",
    "其他": "other",
    "其它": "other",
}
"""Zone type words (in `sheet.squash` form) -> canonical type."""

STATUSES: dict[str, str] = {
    "building": "building",
    "创建中": "building",
    "建设中": "building",
    "在建": "building",
    "推进中": "building",
    "未验收": "building",
    "accepted": "accepted",
    "已验收": "accepted",
    "通过验收": "accepted",
    "验收通过": "accepted",
    "已通过验收": "accepted",
    "reinspected": "reinspected",
    "已复核": "reinspected",
    "复核": "reinspected",
    "通过复核": "reinspected",
    "复核通过": "reinspected",
    "已复验": "reinspected",
    "复验": "reinspected",
    "复验通过": "reinspected",
}
"""Status words (in `sheet.squash` form) -> canonical status."""

RECORD_COLUMNS = [
    "zone_id",
    "name",
    "zone_type",
    "status",
    "town",
    "started_on",
    "due_on",
    "accepted_on",
    "reinspected_on",
    "lon",
    "lat",
    "geometry",
]

_DATES = ("started_on", "due_on", "accepted_on", "reinspected_on")
_PAST_ONLY = ("started_on", "accepted_on", "reinspected_on")
_STATUS_DATE = {"accepted": "accepted_on", "reinspected": "reinspected_on"}
_DATE_NAMES = {"accepted_on": "验收日期", "reinspected_on": "复核日期"}
_WGS84_CRS = ("crs84", "4326", "4490", "wgs84", "wgs_1984", "cgcs2000")
_WANTED = "a name (零直排区名称) and a status (状态) column"


LAYOUT = sheet.Layout(KIND, _LOOKUP, required=[("name",), ("status",)], wanted=_WANTED)
_GEOJSON_LAYOUT = dataclasses.replace(LAYOUT, example="zone-sheet-example.geojson")


def read(payload: bytes, *, name: str, tz: str = "Asia/Shanghai", now: datetime) -> Reading:
    """Parse a zone register (CSV, XLSX or GeoJSON bytes); see the module docstring.

    `name` is the file name, for messages; `now` (aware) decides which dates are in the future.
    """
    now = sheet.check_now(now)
    zone = ZoneInfo(tz)
    if sheet.is_json(payload):
        table, outlines = _geojson(payload, name)
    else:
        table = sheet.read_sheet(payload, LAYOUT, name=name)
        outlines = {}
    return sheet.register_reading(
        table,
        lambda row, reject: _record(table, row, reject, zone, now, outlines.get(row.number)),
        key="zone_id",
        noun="zone",
        columns=RECORD_COLUMNS,
    )


def _record(
    table: Sheet,
    row: Row,
    reject: sheet.RowRejects,
    zone: ZoneInfo,
    now: datetime,
    outline: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The zone of one row, or None after rejecting it."""
    zone_name = table.text(row, "name")
    if not zone_name:
        reject("no zone name; write the name of the zone (零直排区名称)", "name")
        return None
    zone_id = table.text(row, "zone_id") or zone_name

    type_text = table.text(row, "zone_type")
    zone_type = ZONE_TYPES.get(sheet.squash(type_text)) if type_text else "other"
    if zone_type is None:
        reject(
            f"zone type {type_text!r} is not 工业园区, 生活小区, 镇街 or 其他 "
            "(industrial/residential/town/other); row skipped",
            "zone_type",
        )
        return None
    status_text = table.text(row, "status")
    status = STATUSES.get(sheet.squash(status_text))
    if status is None:
        what = f"status {status_text!r} is not" if status_text else "no status; write"
        reject(
            f"{what} 创建中, 已验收 or 已复核 (building/accepted/reinspected); row skipped",
            "status",
        )
        return None

    dates: dict[str, date | None] = {}
    for key in _DATES:
        raw = table.get(row, key)
        if sheet.is_missing(raw):
            dates[key] = None
            continue
        try:
            day = sheet.local_date(raw)
        except BadCell as bad:
            reject(f"{table.title(key)}: {bad}; row skipped", key)
            return None
        if key in _PAST_ONLY and sheet.future_date(day, now, zone):
            reject(
                f"{table.title(key)} {day.isoformat()} is in the future; check the date "
                "(row skipped)",
                key,
            )
            return None
        dates[key] = day
    needed = _STATUS_DATE.get(status)
    if needed and dates[needed] is None:
        column = table.title(needed, _DATE_NAMES[needed])
        add = "" if table.has(needed) else f" (add a {_DATE_NAMES[needed]} column)"
        reject(
            f"status {status_text!r} needs the date: fill {column}{add}; row skipped",
            needed if table.has(needed) else "status",
        )
        return None

    if status == "building":
        done = [k for k in ("accepted_on", "reinspected_on") if dates[k] is not None]
        if done:
            reject(
                f"status {status_text!r} says the zone is still being built but "
                f"{table.title(done[0])} is filled; correct one of them (row skipped)",
                "status",
            )
            return None

    geometry: str | None = None
    point: tuple[float, float] | None = None
    try:
        point = sheet.coordinates(table.get(row, "lon"), table.get(row, "lat"))
    except BadCell as bad:
        reject(f"{bad}; row skipped", "lon", f"{table.text(row, 'lon')}, {table.text(row, 'lat')}")
        return None
    shape_in = outline if outline is not None else table.get(row, "geometry")
    if shape_in is not None and not sheet.is_missing(shape_in):
        try:
            geometry, inside = _outline(shape_in)
        except BadCell as bad:
            raw = json.dumps(shape_in) if isinstance(shape_in, dict) else sheet.text(shape_in)
            reject(f"{bad}; row skipped", "geometry", raw[:200])
            return None
        point = inside if outline is not None or point is None else point
    return {
        "zone_id": zone_id,
        "name": zone_name,
        "zone_type": zone_type,
        "status": status,
        "town": table.text(row, "town") or None,
        **dates,
        "lon": point[0] if point else None,
        "lat": point[1] if point else None,
        "geometry": geometry,
    }


def _outline(value: Any) -> tuple[str, tuple[float, float]]:
    """(GeoJSON geometry text, a point inside it) from a GeoJSON mapping, JSON text or WKT."""
    try:
        if isinstance(value, dict):
            geom = shape(value)
        else:
            text = sheet.text(value)
            geom = shape(json.loads(text)) if text.startswith("{") else shapely.from_wkt(text)
    except Exception:  # shapely and json raise many kinds; all mean "not a geometry"
        raise BadCell(
            "the outline is not a GeoJSON geometry or WKT polygon; export it again in WGS-84"
        ) from None
    if geom is None or geom.is_empty:
        raise BadCell("the outline is empty; draw the zone's outline or leave it out")
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    point = geom.representative_point()
    lon, lat = float(point.x), float(point.y)
    min_x, min_y, max_x, max_y = geom.bounds
    sheet.coordinates(min_x, min_y)  # raises BadCell outside China (projected metres ...)
    sheet.coordinates(max_x, max_y)
    source = value if isinstance(value, dict) else mapping(geom)
    return json.dumps(source, ensure_ascii=False, separators=(",", ":")), (lon, lat)


def _geojson(payload: bytes, name: str) -> tuple[Sheet, dict[int, dict[str, Any]]]:
    """The features' properties as a `Sheet` (rows = features) and their outlines by number."""
    data = sheet.load_json(payload, kind=KIND, name=name)
    if not isinstance(data, dict) or data.get("type") not in ("FeatureCollection", "Feature"):
        raise ParseError(
            f"{KIND} {name}: JSON but not a GeoJSON FeatureCollection; export the zones as "
            "GeoJSON, or as a CSV/XLSX sheet"
        )
    crs = json.dumps(data.get("crs") or {}).lower()
    if crs != "{}" and not any(code in crs for code in _WGS84_CRS):
        raise ParseError(
            f"{KIND} {name}: coordinates are in {crs}; export the GeoJSON in WGS-84 (EPSG:4326)"
        )
    features = data.get("features", []) if data["type"] == "FeatureCollection" else [data]
    if not isinstance(features, list):
        raise ParseError(f"{KIND} {name}: 'features' is not a list; export the GeoJSON again")
    properties = [dict(f.get("properties") or {}) if isinstance(f, dict) else {} for f in features]
    table = sheet.read_records(properties, _GEOJSON_LAYOUT, name=name)
    outlines = {
        i: f["geometry"]
        for i, f in enumerate(features, start=1)
        if isinstance(f, dict) and isinstance(f.get("geometry"), dict)
    }
    return table, outlines
