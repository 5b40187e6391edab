"""The report's map: folium with Leaflet inlined, no tiles, the district outlines as the basemap.

Layers: the city's districts shaded by the week's good-day ratio (with their rank), the air
stations coloured by their week's AQI category (HJ 633 colours), the water sections with
coordinates coloured by class (GB 3838), the zero-discharge zones (污水零直排区: outline, or a
diamond at their point, coloured by their state at the week's end), the outfalls (triangles:
red with a violation this week, green inspected without one, grey not inspected), the
zero-waste cells (无废城市细胞: a badge with the first character of their type, filled when
built, hollow while being built), and, only when a Tianditu key is set in
``ENVWATCH_TIANDITU_KEY``, a Tianditu street layer that is off until switched on (it needs the
network; everything else works offline). Two buttons zoom to the whole city or the district.

Every string is escaped with `escape.esc` before it reaches folium (popups and tooltips end up
in JavaScript template literals, GeoJSON properties in ``innerHTML``).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple, cast
from urllib.parse import quote

import folium
import pandas as pd
from branca.element import Figure, MacroElement
from jinja2 import Template
from markupsafe import Markup

from envwatch.report.data import (
    ZONE_STATE_LABELS,
    ReportData,
    Station,
    ZeroDischarge,
)
from envwatch.report.escape import esc, fmt_number, missing

_HEAD_BLOCK = re.compile(r"<style>.*?</style>|<script>.*?</script>", re.DOTALL)

POINTS_PANE = "points"
CELLS_PANE = "cells"
OUTFALLS_PANE = "outfalls"

TIANDITU_KEY_VARIABLE = "ENVWATCH_TIANDITU_KEY"

NO_DATA_FILL = "#d9d9d9"
"""Grey for a district, station or section without data."""

WATER_HEX = {
    "blue": "#1E78D7",
    "green": "#2CA02C",
    "yellow": "#F2D600",
    "orange": "#FF8C00",
    "red": "#E31A1C",
}
"""Map colours of the water classes (Ⅰ–Ⅱ blue, Ⅲ green, Ⅳ yellow, Ⅴ orange, 劣Ⅴ red)."""

ZONE_COLOURS = dict(
    zip(ZONE_STATE_LABELS, ("#1D4ED8", "#60A5FA", "#FACC15", "#DC2626"), strict=True)
)
"""Fill of a zero-discharge zone by its state at the week's end, in the order of
`ZONE_STATE_LABELS` (reinspected, accepted: blues; building: yellow; overdue: red)."""

OUTFALL_COLOURS = {"violation": "#DC2626", "clean": "#16A34A", "not_inspected": "#9CA3AF"}
"""Fill of an outfall's triangle by the week's inspections."""

CELL_PALETTE = (
    "#7C3AED",
    "#2563EB",
    "#EA580C",
    "#DB2777",
    "#0891B2",
    "#65A30D",
    "#B45309",
    "#475569",
    "#A16207",
)
"""One colour per kind of zero-waste cell, in the order of stations.yaml's cell_types."""

OUTFALL_ITEM_LABELS = {"nh3n": "氨氮", "cod": "COD", "tp": "总磷"}


@dataclass(frozen=True)
class RatioBin:
    """One shade of the good-day-ratio map: ratios in [low, high) get `colour`."""

    low: float
    high: float
    colour: str
    label: str


def ratio_bins(goal: float) -> list[RatioBin]:
    """Shades of the district map: at or above the plan's goal, then steps below it."""
    steps = [goal, 80.0, 60.0, 0.0]
    steps = sorted({s for s in steps if s <= goal}, reverse=True)
    colours = ["#1A9850", "#A6D96A", "#FEE08B", "#F46D43"]
    bins = [RatioBin(goal, math.inf, colours[0], f"≥ {goal:g}%（达到目标）")]
    for i in range(1, len(steps)):
        hi, lo = steps[i - 1], steps[i]
        bins.append(RatioBin(lo, hi, colours[min(i, 3)], f"{lo:g}% – {hi:g}%"))
    return bins


def ratio_colour(ratio: float | None, goal: float) -> str:
    """The fill of a district with good-day ratio `ratio` (grey without data)."""
    if ratio is None or missing(ratio):
        return NO_DATA_FILL
    for b in ratio_bins(goal):
        if b.low <= ratio < b.high:
            return b.colour
    return NO_DATA_FILL


class _MetricScale(MacroElement):
    """A scale bar in kilometres only (Leaflet's default adds miles)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            L.control.scale({imperial: false}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )


@dataclass(frozen=True)
class MapParts:
    """The rendered map: what goes in <head>, the map's <div>, and its script; `notes`: a line
    under a layer's legend (``water``, ``zone``, ``outfall``, ``cell``) where it has one, e.g.
    how many points could not be placed; `tianditu`: whether the 天地图 base layers are on."""

    header: Markup
    html: Markup
    script: Markup
    tianditu: bool
    notes: Mapping[str, str] = field(default_factory=dict)


def _rank_text(row: Any) -> str:
    if bool(row["no_data"]):
        return "无数据"
    return f"第 {int(row['rank_good_day_ratio'])} 名"


def _stations_text(row: Any) -> str:
    """'（站点：龙赛医院）': the stations behind a district's figure, '' when unknown."""
    names = row.get("station_names")
    if not isinstance(names, (list, tuple)) or not names:
        return ""
    return f"（站点：{'、'.join(str(n) for n in names)}）"


def _district_layer(data: ReportData, m: folium.Map) -> None:
    gdf = data.districts
    goal = data.good_day_goal
    n_ranked = int((~gdf["no_data"]).sum())
    features = []
    for _, row in gdf.iterrows():
        ratio = None if bool(row["no_data"]) else float(row["good_day_ratio"])
        features.append(
            {
                "type": "Feature",
                "geometry": row.geometry.__geo_interface__,
                "properties": {
                    "name": str(esc(row["district"])),
                    "ratio": str(esc(fmt_number(ratio, 1, "%"))),
                    "rank": str(
                        esc(
                            _rank_text(row)
                            + (f"（共 {n_ranked} 个有数据）" if ratio is not None else "")
                        )
                    ),
                    "days": str(esc(f"{int(row['n_valid_days'])} 天" + _stations_text(row))),
                    "fill": ratio_colour(ratio, goal),
                    "region": bool(row["is_region"]),
                },
            }
        )
    layer = folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=f"区县优良率（{data.word}）",
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.55,
            "color": "#1F2937" if f["properties"]["region"] else "#6B7280",
            "weight": 3.5 if f["properties"]["region"] else 1,
        },
        highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.7},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "ratio", "rank", "days"],
            aliases=["区县", f"{data.word}优良率", "优良率排名", "有效天数"],
            sticky=True,
        ),
    )
    layer.add_to(m)
    labels = folium.FeatureGroup(name="区县名称与排名", control=True)
    for _, row in gdf.iterrows():
        point = row.geometry.representative_point()
        rank = _rank_text(row)
        cls = "district-label region" if bool(row["is_region"]) else "district-label"
        html = f'<div class="{cls}"><span>{esc(row["district"])}</span><b>{esc(rank)}</b></div>'
        folium.Marker(
            [point.y, point.x],
            icon=folium.DivIcon(html=html, icon_size=(86, 34), icon_anchor=(43, 17)),
            interactive=False,
            keyboard=False,
        ).add_to(labels)
    labels.add_to(m)


class _Icon(NamedTuple):
    """How a point is drawn: its CSS class, its size (a square, pixels) and its map pane."""

    css: str
    size: int
    pane: str


def _icon_marker(
    row: Any, icon: _Icon, html: str, popup: folium.Popup | None, tooltip: folium.Tooltip
) -> folium.Marker:
    """A marker at the row's lat/lon drawn by `html`, centred on it."""
    return folium.Marker(
        [float(row["lat"]), float(row["lon"])],
        icon=folium.DivIcon(
            html=html,
            icon_size=(icon.size, icon.size),
            icon_anchor=(icon.size // 2, icon.size // 2),
            class_name=icon.css,
        ),
        pane=icon.pane,
        popup=popup,
        tooltip=tooltip,
    )


# a square, so that a section never looks like an air station
_SECTION_ICON = _Icon("section-icon", 16, POINTS_PANE)
_ZONE_ICON = _Icon("zone-icon", 16, POINTS_PANE)
_CELL_ICON = _Icon("cell-icon", 20, CELLS_PANE)


def _station_popup(s: Station, limits: dict[str, float], word: str = "本周") -> str:
    """A station's popup: its mean AQI over the period and, for up to a month, each day."""
    rows = []
    for d in s.days if len(s.days) <= 31 else []:
        if d.valid:
            chip = (
                f'<span class="chip" style="background:{d.colour}"></span>'
                f"{fmt_number(d.aqi)} {esc(d.category)}"
            )
        elif d.problem == "无数据":
            chip = '<span class="na">无数据</span>'
        else:
            chip = '<span class="na">无效</span>'
        pm = fmt_number(d.pm25)
        o3 = fmt_number(d.o3_8h)
        rows.append(
            f"<tr><td>{d.date:%m-%d}</td><td>{chip}</td><td>{esc(pm)}</td><td>{esc(o3)}</td></tr>"
        )
    head = (
        f"<b>{esc(s.name)}</b>（{esc(s.site_id)}）<br>{esc(s.district or '区县未知')}"
        + ("，对照点（不计入区县均值）" if s.background else "")
        + f"<br>{word}平均 AQI：{esc(fmt_number(s.mean_aqi))}"
        + (f"（{esc(s.category)}）" if s.category else "")
        + f"，有效 {s.valid_days} 天"
    )
    table = (
        (
            '<table class="popup-table"><tr><th>日期</th><th>AQI</th>'
            f"<th>PM2.5<br>µg/m³</th><th>O3 日最大8小时<br>µg/m³</th></tr>{''.join(rows)}</table>"
            if rows
            else ""
        )
        + f'<div class="popup-note">日均限值：PM2.5 {limits["pm25"]:g}，O3-8h {limits["o3_8h"]:g}</div>'
    )
    return f'<div class="popup">{head}{table}</div>'


def _station_layer(data: ReportData, m: folium.Map) -> None:
    group = folium.FeatureGroup(name=f"空气站点（{data.word}AQI类别）")
    for s in data.stations:
        if s.lat is None or s.lon is None:
            continue
        tip = f"{esc(s.name)}：" + (
            f"{data.word}平均AQI {esc(fmt_number(s.mean_aqi))} {esc(s.category)}"
            if s.category
            else "无数据"
        )
        marker = folium.CircleMarker(
            [s.lat, s.lon],
            radius=7,
            color="#111827",
            weight=2,
            dash_array="3 3" if s.background else None,
            fill=True,
            fill_color=s.colour or NO_DATA_FILL,
            fill_opacity=0.95,
            popup=folium.Popup(_station_popup(s, data.limits, data.word), max_width=380),
            tooltip=folium.Tooltip(tip),
        )
        marker.options["pane"] = POINTS_PANE  # folium's path options leave `pane` out
        marker.add_to(group)
    group.add_to(m)


def _water_popup(row: pd.Series, word: str = "本周") -> str:
    target: Any = row.get("target_class")
    target_text = "未设定" if missing(target) else _class_label(int(target))
    meets = row.get("meets_target")
    verdict = "" if missing(meets) else ("，达标 ✓" if bool(meets) else "，未达标 ✗")
    pollutants = row.get("main_pollutants")
    return (
        f'<div class="popup"><b>{esc(row["site_name"])}</b>（{esc(row["kind_label"])}）<br>'
        f"{word}类别：{esc(row.get('class_label'))} {esc(row.get('status'))}<br>"
        f"目标类别：{esc(target_text)}{verdict}<br>"
        f"主要污染物：{esc('—' if missing(pollutants) or not pollutants else pollutants)}<br>"
        f"控制级别：{esc(row.get('control_level'))}，样品 {esc(row.get('n_samples'))} 个</div>"
    )


def _class_label(c: int) -> str:
    from envwatch.standards.water import CLASS_LABELS

    return "劣Ⅴ类" if c == 6 else CLASS_LABELS.get(c, str(c)) + "类"


def _water_layer(data: ReportData, m: folium.Map) -> str:
    group = folium.FeatureGroup(name=f"水质断面（{data.word}类别）")
    frames = [f for f in (data.water, data.water_other) if not f.empty]
    placed = 0
    unplaced = 0
    for frame in frames:
        for _, row in frame.iterrows():
            if missing(row.get("lat")) or missing(row.get("lon")):
                unplaced += 1
                continue
            placed += 1
            colour = WATER_HEX.get(str(row["colour"]), NO_DATA_FILL)
            html = f'<div class="section-marker" style="background:{colour}"></div>'
            popup = folium.Popup(_water_popup(row, data.word), max_width=320)
            tip = folium.Tooltip(f"{esc(row['site_name'])}：{esc(row.get('class_label'))}")
            _icon_marker(row, _SECTION_ICON, html, popup, tip).add_to(group)
    group.add_to(m)
    if not frames:
        return f"{data.word}无水质数据，水质图层为空。"
    if unplaced and not placed:
        return f"{data.word}有数据的 {unplaced} 个断面均无坐标，未上图，见下方水质表。"
    if unplaced:
        return f"另有 {unplaced} 个断面无坐标，未上图，见下方水质表。"
    return ""


def cell_colours(types: list[str]) -> dict[str, str]:
    """The colour of each kind of cell (in order; kinds past the palette get grey)."""
    return {t: CELL_PALETTE[i] if i < len(CELL_PALETTE) else "#6B7280" for i, t in enumerate(types)}


def cell_letter(cell_type: str) -> str:
    """The character on a cell's badge: the first of its type (工, 小, 学 …)."""
    return cell_type[:1] or "?"


def _text(value: Any, empty: str = "—") -> Markup:
    """Escaped text, `empty` for a missing or blank value."""
    if missing(value) or str(value).strip() == "":
        return Markup(empty)
    return esc(value)


def _md(day: Any) -> str:
    """``YYYY-MM-DD`` as it is, or — when missing."""
    return "—" if missing(day) or not str(day).strip() else str(day)[:10]


def _outline(geometry: Any) -> dict[str, Any] | None:
    """A zone's outline as GeoJSON (simplified to about 5 m); None when there is none, or
    when it is not a polygon (the zone is then drawn at its point)."""
    if missing(geometry) or not str(geometry).strip():
        return None
    try:
        from shapely.geometry import mapping, shape

        geom = shape(json.loads(str(geometry)))
        if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            return None  # a point would become Leaflet's default marker, an image
        return dict(mapping(geom.simplify(0.00005, preserve_topology=True)))
    except Exception:  # a malformed outline: the zone's point is drawn instead
        return None


def _zone_popup(row: Any, counts: Mapping[Any, Any], week_end: date, word: str = "本周") -> str:
    """A zone's popup: type, town, state at the week's end, dates and its outfalls' week."""
    state = str(row["state"])
    changed = f"（{esc(row['this_week'])}）" if row["this_week"] else ""
    due = _md(row["due_on"])
    overdue = (
        f'<br><span class="bad">计划 {esc(due)} 完成，至 {week_end:%m-%d} 仍未验收</span>'
        if state == "overdue"
        else ""
    )
    outfalls = counts.get("outfalls")
    if not outfalls:
        found = "排口：无登记排口"
    elif missing(counts.get("week_inspections")):
        found = f"排口 {int(outfalls)} 个；{word}无巡查记录"
    else:
        found = (
            f"排口 {int(outfalls)} 个；{word}巡查 {int(counts['week_inspections'])} 次，"
            f"违规 {int(counts['week_violations'])} 次"
        )
    return (
        f'<div class="popup"><b>{esc(row["name"])}</b><br>'
        f"类型：{esc(row['type_label'])}；所属镇街：{_text(row['town'])}<br>"
        f'状态（截至 {week_end:%m-%d}）：<b style="color:{ZONE_COLOURS[state]}">'
        f"{esc(ZONE_STATE_LABELS[state])}</b>{changed}{overdue}<br>"
        f"开工：{esc(_md(row['started_on']))}；计划完成：{esc(due)}<br>"
        f"验收：{esc(_md(row['accepted_on']))}；复核：{esc(_md(row['reinspected_on']))}<br>"
        f"{esc(found)}</div>"
    )


def _zone_layer(data: ReportData, m: folium.Map) -> str:
    """The zones: outlines coloured by state (dashed while not accepted), or a diamond at the
    zone's point without an outline. Returns the legend's note ('' when all are mapped)."""
    zd = data.zero_discharge
    group = folium.FeatureGroup(name="污水零直排区（验收状态）")
    counts = {str(r["zone"]): r for r in zd.zone_counts.to_dict("records")}
    unplaced = 0
    for _, row in zd.zones.iterrows():
        state = str(row["state"])
        colour = ZONE_COLOURS[state]
        popup = folium.Popup(
            _zone_popup(row, counts.get(str(row["name"]), {}), data.period.end, data.word)
        )
        tip = folium.Tooltip(f"{esc(row['name'])}：{esc(ZONE_STATE_LABELS[state])}")
        outline = _outline(row["geometry"])
        if outline is not None:
            shape = folium.GeoJson(
                {"type": "Feature", "geometry": outline, "properties": {}},
                style_function=lambda _f, c=colour, s=state: {
                    "fillColor": c,
                    "fillOpacity": 0.75,
                    "color": "#7F1D1D" if s == "overdue" else "#111827",
                    "weight": 3 if s == "overdue" else 1.5,
                    "dashArray": "5 3" if s in ("building", "overdue") else None,
                },
                highlight_function=lambda _f: {"weight": 3, "fillOpacity": 0.9},
                tooltip=tip,
                control=False,
            )
            popup.add_to(shape)  # binds to the outline (folium types `popup=` as GeoJsonPopup)
            shape.add_to(group)
        elif not (missing(row["lat"]) or missing(row["lon"])):
            html = f'<div class="zone-point" style="background:{colour}"></div>'
            _icon_marker(row, _ZONE_ICON, html, popup, tip).add_to(group)
        else:
            unplaced += 1
    group.add_to(m)
    if zd.zones.empty:
        return "尚无零直排区数据。"
    return f"{unplaced} 个零直排区无边界和坐标，未上图，见下方表格。" if unplaced else ""


def _number(value: Any) -> str:
    """A measured value as written (``0.42``, ``112``); — when there is none."""
    return "—" if missing(value) else f"{float(value):g}"


def _inspection_rows(rows: pd.DataFrame) -> str:
    """The popup table's rows: time, weather, discharging (flow), NH3-N, COD, TP, verdict."""
    out = []
    for r in rows.to_dict("records"):
        discharging = r.get("discharging")
        if missing(discharging):
            flow = "—"
        elif int(cast(float, discharging)):
            flow = "是" + (
                f"（{_number(r.get('flow'))} m³/h）" if not missing(r.get("flow")) else ""
            )
        else:
            flow = "否"
        violation = str(r.get("violation") or "")
        verdict = (
            f'<span class="bad">{esc(violation)}</span>'
            if violation
            else '<span class="ok">正常</span>'
        )
        items = "".join(f"<td>{esc(_number(r.get(code)))}</td>" for code in OUTFALL_ITEM_LABELS)
        out.append(
            f"<tr><td>{esc(str(r.get('time_local'))[5:])}</td><td>{_text(r.get('weather'))}</td>"
            f'<td>{esc(flow)}</td>{items}<td class="wrap">{verdict}</td></tr>'
        )
    return "".join(out)


def _limits_note(zd: ZeroDischarge, outfall_type: Any) -> str:
    """The rule an outfall of `outfall_type` is judged by, with its limits (mg/L)."""
    limits = zd.limits.get(str(outfall_type)) or {}
    items = "、".join(f"{OUTFALL_ITEM_LABELS.get(k, k)} {v:g}" for k, v in limits.items())
    if outfall_type == "sewage":
        return f"污水排口限值（mg/L）：{items}" if items else ""
    rule = "晴天不得排水"
    return f"{rule}；雨天限值（mg/L）：{items}" if items else rule


def _outfall_popup(row: Any, zd: ZeroDischarge, word: str = "本周") -> str:
    """An outfall's popup: type, zone, receiving water and the week's inspections."""
    mine = zd.inspections.loc[zd.inspections["site_id"] == row["site_id"]]
    head = (
        f'<div class="popup"><b>{esc(row["name"])}</b>（{esc(row["site_id"])}）<br>'
        f"{esc(row['type_label'])}；所属零直排区：{_text(row['zone'], '未分区')}<br>"
        f"受纳水体：{_text(row['receiving_water'])}<br>"
    )
    if mine.empty:
        last = row["last_inspected"]
        when = "无记录" if missing(last) or not last else str(last)
        body = f'<span class="na">{word}未巡查</span>（最近一次巡查：{esc(when)}）'
    else:
        n_bad = int(row["n_violations"])
        summary = (
            f'<span class="bad">{word}巡查 {len(mine)} 次，违规 {n_bad} 次</span>'
            if n_bad
            else f'<span class="ok">{word}巡查 {len(mine)} 次，无违规</span>'
        )
        body = (
            f"{summary}"
            '<table class="popup-table"><tr><th>时间</th><th>天气</th><th>排水</th>'
            "<th>氨氮</th><th>COD</th><th>总磷</th><th>结果</th></tr>"
            f"{_inspection_rows(mine)}</table>"
            '<div class="popup-note">浓度单位 mg/L；“—”：未排水或未采样。'
            f"{esc(_limits_note(zd, row['outfall_type']))}</div>"
        )
    return head + body + "</div>"


def _outfall_layer(data: ReportData, m: folium.Map) -> str:
    """The outfalls as triangles: red with a violation this week (larger, on top), green
    inspected without one, grey not inspected. Returns the legend's note."""
    zd = data.zero_discharge
    group = folium.FeatureGroup(name=f"排口（{data.word}巡查结果）")
    unplaced = 0
    # violations last, so they are drawn on top
    order = {"not_inspected": 0, "clean": 1, "violation": 2}
    frame = zd.outfalls.assign(_o=zd.outfalls["state"].map(order)).sort_values("_o")
    for _, row in frame.iterrows():
        if missing(row["lat"]) or missing(row["lon"]):
            unplaced += 1
            continue
        state = str(row["state"])
        colour = OUTFALL_COLOURS[state]
        size = 18 if state == "violation" else 14
        html = (
            f'<svg class="outfall-marker {state}" width="{size}" height="{size}" '
            f'viewBox="0 0 14 14"><polygon points="7,13 1,2 13,2" fill="{colour}" '
            'stroke="#111827" stroke-width="1.4" stroke-linejoin="round"/></svg>'
        )
        tip = {
            "violation": f"违规 {int(row['n_violations'])} 次",
            "clean": f"{data.word}巡查无违规",
            "not_inspected": f"{data.word}未巡查",
        }[state]
        popup = folium.Popup(_outfall_popup(row, zd, data.word), max_width=560)
        icon = _Icon("outfall-icon", size, OUTFALLS_PANE)
        marker = _icon_marker(
            row, icon, html, popup, folium.Tooltip(f"{esc(row['name'])}：{esc(tip)}")
        )
        marker.add_to(group)
    group.add_to(m)
    if zd.outfalls.empty:
        return "尚无排口数据。"
    return f"{unplaced} 个排口无坐标，未上图。" if unplaced else ""


def _cell_popup(row: Any) -> str:
    """A cell's popup: name, type, state, built_on, address."""
    state = "已建成" if row["state"] == "built" else "创建中"
    return (
        f'<div class="popup"><b>{esc(row["name"])}</b><br>'
        f"类型：无废{esc(row['cell_type'])}；状态：{esc(state)}<br>"
        f"建成日期：{esc(_md(row['built_on']))}<br>"
        f"地址：{_text(row['address'])}</div>"
    )


def _cell_layer(data: ReportData, m: folium.Map) -> str:
    """The cells as badges with their type's first character, in its colour: filled when
    built by the week's end, hollow while being built. Returns the legend's note."""
    zw = data.zero_waste
    colours = cell_colours(zw.types)
    group = folium.FeatureGroup(name="无废城市细胞（按类型）")
    unplaced = 0
    for _, row in zw.cells.iterrows():
        if missing(row["lat"]) or missing(row["lon"]):
            unplaced += 1
            continue
        cell_type = str(row["cell_type"])
        colour = colours.get(cell_type, "#6B7280")
        built = row["state"] == "built"
        style = (
            f"background:{colour};border-color:{colour};color:#fff"
            if built
            else f"background:#fff;border-color:{colour};color:{colour}"
        )
        state = "已建成" if built else "创建中"
        html = (
            f'<div class="cell-marker {"built" if built else "building"}" '
            f'style="{style}">{esc(cell_letter(cell_type))}</div>'
        )
        popup = folium.Popup(_cell_popup(row), max_width=320)
        tip = folium.Tooltip(f"{esc(row['name'])}（无废{esc(cell_type)}，{state}）")
        _icon_marker(row, _CELL_ICON, html, popup, tip).add_to(group)
    group.add_to(m)
    if zw.cells.empty:
        return "尚无无废城市细胞数据。"
    return f"{unplaced} 个细胞无坐标，未上图，见下方表格。" if unplaced else ""


class _ZoomButtons(MacroElement):
    """Two buttons under the zoom control: the whole city, and the region's district."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function() {
            var map = {{ this._parent.get_name() }};
            var control = L.control({position: 'topleft'});
            control.onAdd = function() {
                var box = L.DomUtil.create('div', 'leaflet-bar zoom-buttons');
                {% for label, bounds in this.buttons %}
                var b{{ loop.index }} = L.DomUtil.create('a', 'zoom-button', box);
                b{{ loop.index }}.href = '#';
                b{{ loop.index }}.setAttribute('role', 'button');
                b{{ loop.index }}.innerHTML = {{ label|tojson }};
                L.DomEvent.on(b{{ loop.index }}, 'click', function(e) {
                    L.DomEvent.preventDefault(e);
                    map.fitBounds({{ bounds|tojson }}, {padding: [24, 24]});
                });
                {% endfor %}
                L.DomEvent.disableClickPropagation(box);
                return box;
            };
            control.addTo(map);
        })();
        {% endmacro %}
        """
    )

    def __init__(self, buttons: list[tuple[str, list[list[float]]]]) -> None:
        super().__init__()
        self._name = "ZoomButtons"
        self.buttons = [(str(esc(label)), bounds) for label, bounds in buttons]


def region_bounds(data: ReportData) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """((south, west), (north, east)) of the region's district, None when it is not mapped."""
    mine = data.districts.loc[data.districts["is_region"]]
    if mine.empty:
        return None
    minx, miny, maxx, maxy = (float(v) for v in mine.total_bounds)
    return (miny, minx), (maxy, maxx)


def _tianditu_layer(m: folium.Map, key: str) -> None:
    group = folium.FeatureGroup(name="天地图底图（需联网）", show=False)
    tk = quote(key, safe="")
    for layer in ("vec_w", "cva_w"):
        folium.TileLayer(
            tiles=f"https://t{{s}}.tianditu.gov.cn/DataServer?T={layer}&x={{x}}&y={{y}}&l={{z}}&tk={tk}",
            attr="天地图",
            subdomains="01234567",
            max_zoom=18,
            overlay=True,
            control=False,
        ).add_to(group)
    group.add_to(m)


def focus_bounds(data: ReportData) -> tuple[tuple[float, float], tuple[float, float]]:
    """((south, west), (north, east)) the map opens on: the region's district, the districts
    with data and every station and section placed; the whole city when none has data."""
    gdf = data.districts
    focus = gdf.loc[~gdf["no_data"] | gdf["is_region"]]
    if focus.empty or bool(gdf["no_data"].all()):
        focus = gdf
    minx, miny, maxx, maxy = (float(v) for v in focus.total_bounds)
    lons = [s.lon for s in data.stations if s.lon is not None and s.lat is not None]
    lats = [s.lat for s in data.stations if s.lon is not None and s.lat is not None]
    for frame in (data.water, data.water_other):
        if not frame.empty:
            placed = frame.loc[frame["lon"].notna() & frame["lat"].notna()]
            lons += placed["lon"].astype(float).tolist()
            lats += placed["lat"].astype(float).tolist()
    city_minx, city_miny, city_maxx, city_maxy = (float(v) for v in gdf.total_bounds)
    inside = [
        (x, y)
        for x, y in zip(lons, lats, strict=True)
        if city_minx <= x <= city_maxx and city_miny <= y <= city_maxy
    ]
    for x, y in inside:
        minx, maxx, miny, maxy = min(minx, x), max(maxx, x), min(miny, y), max(maxy, y)
    return (miny, minx), (maxy, maxx)


def _district_points(data: ReportData) -> list[tuple[float, float]]:
    """(lon, lat) of every zone, outfall and cell placed on the map."""
    points: list[tuple[float, float]] = []
    for frame in (data.zero_discharge.zones, data.zero_discharge.outfalls, data.zero_waste.cells):
        if frame.empty:
            continue
        placed = frame.loc[frame["lon"].notna() & frame["lat"].notna()]
        points += list(zip(placed["lon"].astype(float), placed["lat"].astype(float), strict=True))
    return points


def opening_bounds(data: ReportData) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where the map opens: the region's district when it has zones, outfalls or cells to
    show (at the city's scale they would be a heap of overlapping symbols), else the city
    view of `focus_bounds`. The 全市 button goes to the city view."""
    mine = region_bounds(data)
    points = _district_points(data)
    if mine is None or not points:
        return focus_bounds(data)
    (miny, minx), (maxy, maxx) = mine
    city_minx, city_miny, city_maxx, city_maxy = (float(v) for v in data.districts.total_bounds)
    for x, y in points:
        if city_minx <= x <= city_maxx and city_miny <= y <= city_maxy:
            minx, maxx, miny, maxy = min(minx, x), max(maxx, x), min(miny, y), max(maxy, y)
    return (miny, minx), (maxy, maxx)


def build_map(data: ReportData, *, tianditu_key: str | None = None) -> MapParts:
    """The folium map of the week, rendered to parts for the page's template.

    `tianditu_key` defaults to the environment variable ``ENVWATCH_TIANDITU_KEY``; without a
    key the map has no tiles at all.
    """
    if tianditu_key is None:
        tianditu_key = os.environ.get(TIANDITU_KEY_VARIABLE) or None
    minx, miny, maxx, maxy = data.districts.total_bounds
    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=9,
        tiles=None,
        attribution_control=False,
        max_zoom=18,
        min_zoom=6,
        zoom_snap=0.25,
    )
    _MetricScale().add_to(m)
    # Scripts and styles are inlined by the template from PyPI packages; folium's CDN links
    # must not appear (instance attributes: the class lists stay untouched).
    m.default_js = []
    m.default_css = []
    # Above the district names (Leaflet's marker pane is at 600): the cells, then the stations
    # and sections, then the outfalls (a violation must never hide under anything).
    folium.map.CustomPane(CELLS_PANE, z_index=630, pointer_events=True).add_to(m)
    folium.map.CustomPane(POINTS_PANE, z_index=640, pointer_events=True).add_to(m)
    folium.map.CustomPane(OUTFALLS_PANE, z_index=650, pointer_events=True).add_to(m)
    _district_layer(data, m)
    _station_layer(data, m)
    water_note = _water_layer(data, m)
    zone_note = _zone_layer(data, m)
    outfall_note = _outfall_layer(data, m)
    cell_note = _cell_layer(data, m)
    if tianditu_key:
        _tianditu_layer(m, tianditu_key)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    (s, w), (n, e) = opening_bounds(data)
    m.fit_bounds([[s, w], [n, e]], padding=(16, 16))
    (cs, cw), (cn, ce) = focus_bounds(data)
    buttons = [("全市", [[cs, cw], [cn, ce]])]
    mine = region_bounds(data)
    if mine is not None:
        (rs, rw), (rn, re_) = mine
        buttons.append((data.region.district, [[rs, rw], [rn, re_]]))
    _ZoomButtons(buttons).add_to(m)
    figure = cast(Figure, m.get_root())
    figure.render()
    # Keep folium's own styles and settings; drop its <meta> tags and the page-wide styles
    # (html, body at 100% height; #map) meant for a page that is only a map.
    blocks = _HEAD_BLOCK.findall(figure.header.render())
    header = "\n".join(b for b in blocks if "html, body" not in b and "#map {" not in b)
    return MapParts(
        header=Markup(header),
        html=Markup(figure.html.render()),
        script=Markup(figure.script.render()),
        tianditu=bool(tianditu_key),
        notes={"water": water_note, "zone": zone_note, "outfall": outfall_note, "cell": cell_note},
    )
