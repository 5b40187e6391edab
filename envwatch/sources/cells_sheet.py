"""Read the register of zero-waste cells (无废城市细胞) from a staff sheet.

无废城市 builds "cells": factories, residential communities, schools, hotels, malls, scenic
spots, stations, government offices and mines that each run as zero-waste units, are assessed
and named (命名). One row per cell. Columns (English key or any Chinese name):

==============  ===================================================================================
``cell_id``     编号 / 细胞编号, optional: the cell's id (default: ``name/cell_type``)
``name``        名称 / 细胞名称 / 单位名称 / 项目名称: required
``cell_type``   类型 / 细胞类型 / 类别: one of `cell_types` or its aliases (企业 -> 工厂,
                社区 -> 小区, 酒店 -> 饭店, 写字楼 -> 机关, 机场 -> 车站 ...); a leading 无废
                is understood (无废学校 -> 学校); an unknown type is rejected with a suggestion
``address``     地址 / 详细地址, optional
``lon``,        经度, 纬度: WGS-84 decimal degrees (or 121°42′30″), optional; outside China
``lat``         (lon 73.4-135.1, lat 3.8-53.6) is rejected
``status``      状态 / 建设状态 / 创建状态: 已建成 / 已命名 / 通过评估 / 已创建 -> ``built``;
                创建中 / 培育中 / 建设中 -> ``building``; an empty cell (or no column) is
                ``built`` when 建成日期 is filled
``built_on``    建成日期 / 命名日期 / 建成时间 / 通过评估日期: a local date; required when built,
                rejected in the future and on a cell still being built
``note``        备注 / 说明: ignored (序号, 所属镇街 too)
==============  ===================================================================================

`Reading.records`: one row per cell, columns `RECORD_COLUMNS`: ``cell_id``, ``name``,
``cell_type`` (the canonical type), ``address`` (None when not given), ``lon``, ``lat`` (float64,
NaN when not given), ``status`` (``built`` or ``building``), ``built_on`` (`datetime.date` or
None). Observations are empty.

Rejects (the other rows still land): no name, an unknown type or status, a built cell without
its date, a date in the future or that is not a date, coordinates outside China, a second row
with the same cell_id ("duplicate of row N").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from envwatch.sources import sheet
from envwatch.sources.base import Reading
from envwatch.sources.sheet import IGNORED, BadCell, Row, Sheet

__all__ = ["COLUMNS", "DEFAULT_CELL_TYPES", "RECORD_COLUMNS", "STATUSES", "read"]

KIND = "cells sheet"

DEFAULT_CELL_TYPES: tuple[dict[str, Any], ...] = (
    {"type": "工厂", "aliases": ["企业", "无废工厂", "无废企业", "工业企业", "factory"]},
    {"type": "小区", "aliases": ["社区", "无废小区", "无废社区", "住宅小区", "居民小区"]},
    {"type": "学校", "aliases": ["无废学校", "校园", "无废校园", "幼儿园", "school"]},
    {"type": "饭店", "aliases": ["酒店", "宾馆", "无废饭店", "无废酒店", "餐馆", "餐饮", "hotel"]},
    {"type": "商场", "aliases": ["商超", "超市", "无废商场", "购物中心", "农贸市场", "mall"]},
    {"type": "景区", "aliases": ["无废景区", "旅游景区", "公园"]},
    {"type": "车站", "aliases": ["机场", "客运站", "无废车站", "火车站", "汽车站", "码头", "港口"]},
    {
        "type": "机关",
        "aliases": ["机关单位", "写字楼", "无废机关", "党政机关", "事业单位", "办公楼"],
    },
    {"type": "矿山", "aliases": ["无废矿山", "矿区", "绿色矿山", "mine"]},
)
"""The nine kinds of cells of 无废城市 with the words staff use for them; the `cell_types`
argument takes this shape (or a DataFrame with columns ``type`` and ``aliases``), as does
``cell_types`` in stations.yaml."""

COLUMNS: dict[str, list[str]] = {
    "cell_id": ["编号", "细胞编号", "代码", "id"],
    "name": ["名称", "细胞名称", "单位名称", "项目名称", "名单", "name"],
    "cell_type": ["类型", "细胞类型", "类别", "细胞类别", "type"],
    "address": ["地址", "详细地址", "所在地址", "位置"],
    "lon": ["经度", "longitude", "lng"],
    "lat": ["纬度", "latitude"],
    "status": ["状态", "建设状态", "创建状态", "进度", "当前状态"],
    "built_on": [
        "建成日期",
        "建成时间",
        "命名日期",
        "命名时间",
        "通过评估日期",
        "评估通过日期",
        "完成日期",
        "built",
    ],
    IGNORED: ["所属镇街", "镇街", "所属街道", "联系人", "责任单位"],
}
"""Canonical column -> the names staff may give it (matched ignoring case, width and spaces)."""

_LOOKUP = sheet.aliases(COLUMNS)

STATUSES: dict[str, str] = {
    "built": "built",
    "已建成": "built",
    "建成": "built",
    "已命名": "built",
    "命名": "built",
    "通过评估": "built",
    "已通过评估": "built",
    "评估通过": "built",
    "已创建": "built",
    "已完成": "built",
    "building": "building",
    "创建中": "building",
    "培育中": "building",
    "建设中": "building",
    "在建": "building",
    "推进中": "building",
    "未完成": "building",
}
"""Status words (in `sheet.squash` form) -> canonical status."""

RECORD_COLUMNS = ["cell_id", "name", "cell_type", "address", "lon", "lat", "status", "built_on"]


LAYOUT = sheet.Layout(
    KIND,
    _LOOKUP,
    required=[("name",), ("cell_type",)],
    wanted="a name (名称) and a cell_type (类型) column",
)


def read(
    payload: bytes,
    *,
    name: str,
    cell_types: pd.DataFrame | Sequence[Mapping[str, Any]],
    tz: str = "Asia/Shanghai",
    now: datetime,
) -> Reading:
    """Parse a cells register (CSV or XLSX bytes); see the module docstring.

    `cell_types`: ``type`` and ``aliases`` (list of str, or a ``;``-separated string) per kind,
    e.g. `DEFAULT_CELL_TYPES`. `name` is the file name, for messages; `now` is aware.
    """
    now = sheet.check_now(now)
    zone = ZoneInfo(tz)
    types = _types(cell_types)
    table = sheet.read_sheet(payload, LAYOUT, name=name)
    return sheet.register_reading(
        table,
        lambda row, reject: _record(table, row, reject, zone, now, types),
        key="cell_id",
        noun="cell",
        columns=RECORD_COLUMNS,
    )


def _types(cell_types: pd.DataFrame | Sequence[Mapping[str, Any]]) -> sheet.Lookup:
    frame = cell_types if isinstance(cell_types, pd.DataFrame) else pd.DataFrame(list(cell_types))
    if "type" not in frame.columns:
        raise ValueError("cell_types needs a type column (and aliases)")
    aliases = frame["aliases"] if "aliases" in frame.columns else [None] * len(frame)
    entries = []
    for kind, extra in zip(frame["type"], aliases, strict=True):
        entries.append((str(kind), str(kind), [str(kind), *sheet.words(extra)]))
    return sheet.Lookup(entries)


def _cell_type(text: str, types: sheet.Lookup) -> str | None:
    for candidate in (text, text.removeprefix("无废")):
        hits = types.find(candidate)
        if len(hits) == 1:
            return hits[0]
    return None


def _record(
    table: Sheet,
    row: Row,
    reject: sheet.RowRejects,
    zone: ZoneInfo,
    now: datetime,
    types: sheet.Lookup,
) -> dict[str, Any] | None:
    """The cell of one row, or None after rejecting it."""
    cell_name = table.text(row, "name")
    if not cell_name:
        reject("no name; write the cell's name (名称)", "name")
        return None
    type_text = table.text(row, "cell_type")
    cell_type = _cell_type(type_text, types) if type_text else None
    if cell_type is None:
        known = "/".join(types.labels)
        what = f"cell type {type_text!r} is not known" if type_text else "no cell type"
        hint = types.hint(type_text) if type_text else ""
        reject(f"{what}{hint}; write one of {known} (row skipped)", "cell_type")
        return None

    built_on: date | None = None
    raw_date = table.get(row, "built_on")
    if not sheet.is_missing(raw_date):
        try:
            built_on = sheet.local_date(raw_date)
        except BadCell as bad:
            reject(f"{table.title('built_on')}: {bad}; row skipped", "built_on")
            return None
        if sheet.future_date(built_on, now, zone):
            reject(
                f"{table.title('built_on')} {built_on.isoformat()} is in the future; check the "
                "date (row skipped)",
                "built_on",
            )
            return None

    status_text = table.text(row, "status")
    if status_text:
        status = STATUSES.get(sheet.squash(status_text))
        if status is None:
            reject(
                f"status {status_text!r} is not 已建成/已命名 (built) or 创建中/培育中 "
                "(building); row skipped",
                "status",
            )
            return None
    elif built_on is not None:
        status = "built"
    else:
        reject("no status: write 已建成 (with 建成日期) or 创建中; row skipped", "status")
        return None
    if status == "built" and built_on is None:
        column = table.title("built_on", "建成日期")
        add = "" if table.has("built_on") else " (add a 建成日期 column)"
        reject(f"a built cell needs its date: fill {column}{add}; row skipped", "built_on")
        return None
    if status == "building" and built_on is not None:
        reject(
            f"status {status_text!r} says the cell is still being built but "
            f"{table.title('built_on')} is filled; correct one of them (row skipped)",
            "status",
        )
        return None

    try:
        point = sheet.coordinates(table.get(row, "lon"), table.get(row, "lat"))
    except BadCell as bad:
        reject(f"{bad}; row skipped", "lon", f"{table.text(row, 'lon')}, {table.text(row, 'lat')}")
        return None
    return {
        "cell_id": table.text(row, "cell_id") or f"{cell_name}/{cell_type}",
        "name": cell_name,
        "cell_type": cell_type,
        "address": table.text(row, "address") or None,
        "lon": point[0] if point else None,
        "lat": point[1] if point else None,
        "status": status,
        "built_on": built_on,
    }
