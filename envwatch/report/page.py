"""The report page: headline figures, sentences and tables from `ReportData`, into the template.

Texts are Simplified Chinese. Every value that may be missing goes through `fmt_number` or
`esc` and shows as 无数据, never as zero. The template autoescapes; strings built here that
contain markup are `Markup` made from escaped parts only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from envwatch.report import charts
from envwatch.report.assets import map_assets
from envwatch.report.data import (
    CELL_STATE_LABELS,
    NO_ZONE,
    OUTFALL_STATE_LABELS,
    ZONE_STATE_LABELS,
    Day,
    ReportData,
    ZeroDischarge,
    ZeroWaste,
)
from envwatch.report.escape import NO_DATA, esc, fmt_number, missing
from envwatch.report.maps import (
    OUTFALL_COLOURS,
    WATER_HEX,
    ZONE_COLOURS,
    MapParts,
    cell_colours,
    cell_letter,
    ratio_bins,
)
from envwatch.standards import aqi as hj633
from envwatch.standards import water as gb3838

STATUS_TEXT = {
    "ok": "正常",
    "partial": "部分失败",
    "failed": "失败",
    "running": "运行中",
    "": "未运行",
}
SOURCE_KIND_TEXT = {
    "cnemc-air-archive": "国家空气质量小时数据（历史文件）",
    "cnemc-air-live": "国家空气质量实时数据",
    "cnemc-water": "国家地表水自动监测站",
    "lab-sheet": "手工监测化验单",
    "outfall-sheet": "排口巡查记录",
    "air-sheet": "省控、市控空气站数据表",
    "zone-sheet": "污水零直排区建设台账",
    "indicator-sheet": "无废城市指标表",
    "cells-sheet": "无废城市细胞建设台账",
}


@dataclass(frozen=True)
class Tile:
    """A headline figure at the top of the page."""

    title: str
    value: str
    note: str
    state: str  # good, bad, none


def _finalize(value: Any) -> Any:
    """Every value the template prints: text through `esc` (HTML and template literals),
    missing values as 无数据; markup made here passes unchanged."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return esc(value)
    if missing(value):
        return NO_DATA
    return value


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("envwatch.report", "templates"),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_number
    env.filters["md"] = lambda d: f"{d:%m-%d}" if isinstance(d, date) else NO_DATA
    return env


def _row(df: pd.DataFrame, target_id: str) -> pd.Series | None:
    rows = df.loc[df["target_id"] == target_id]
    return None if rows.empty else rows.iloc[0]


def _state(met: Any) -> str:
    if missing(met):
        return "none"
    return "good" if bool(met) else "bad"


def tiles(data: ReportData) -> list[Tile]:
    """The four headline figures: good-day ratio, rank, PM2.5, water."""
    sc = data.scorecard
    out = []
    region = data.region.district
    gdr = _row(sc, "air.good_day_ratio")
    valid = [d for d in data.district_days if d.valid]
    good = sum(1 for d in valid if d.aqi <= 100)
    if gdr is not None:
        out.append(
            Tile(
                f"{region}{data.word}空气优良率",
                str(gdr["week_text"]),
                f"有效 {len(valid)} 天，优良 {good} 天；目标 {gdr['goal']}"
                if valid
                else f"{data.word}无有效日",
                _state(gdr["week_met"]),
            )
        )
    rank = _row(sc, "air.rank_in_city")
    if rank is not None:
        text = str(rank["week_text"])
        value, _, note = text.partition("（")
        out.append(
            Tile(
                f"优良率{data.region.city}排名",
                value,
                (note.rstrip("）") + "；" if note else "") + f"目标 {rank['goal']}",
                _state(rank["week_met"]),
            )
        )
    pm = _row(sc, "air.pm25_annual")
    if pm is not None:
        out.append(
            Tile(
                f"PM2.5 {data.word}均值",
                str(pm["week_text"]),
                f"年均目标 {pm['goal']}；年初至今 {pm['ytd_text']}",
                _state(pm["week_met"]),
            )
        )
    out.append(_water_tile(data))
    out.append(_outfall_tile(data))
    return out


def _outfall_tile(data: ReportData) -> Tile:
    """排口违规（本周）: the zero-discharge target's period, with what was found."""
    zd = data.zero_discharge
    title = f"排口违规（{data.word}）"
    row = _row(data.scorecard, "zero_discharge.outfalls")
    goal = f"目标 {row['goal']}" if row is not None else ""
    if zd.outfalls.empty:
        return Tile(title, NO_DATA, "尚无排口巡查数据", "none")
    if zd.inspections.empty:
        return Tile(title, f"{data.word}未巡查", f"{goal}；{_newest_inspection(zd)}", "none")
    n_bad = len(zd.violations)
    kinds = _violation_kinds(zd.violations)
    note = f"巡查 {len(zd.inspections)} 次" + (f"：{kinds}" if kinds else "，无违规")
    return Tile(title, f"{n_bad} 次", f"{note}；{goal}", "bad" if n_bad else "good")


def _violation_kinds(rows: pd.DataFrame) -> str:
    """``晴天排水 1 次、雨天超标 1 次`` for violation rows."""
    kinds: dict[str, int] = {}
    for text in rows["violation"].astype(str):
        kind = text.split("：", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return "、".join(f"{k} {v} 次" for k, v in kinds.items())


def _newest_inspection(zd: ZeroDischarge) -> str:
    if zd.newest_inspection:
        return f"库中最近一次巡查：{zd.newest_inspection}"
    return "库中尚无巡查记录"


def _water_tile(data: ReportData) -> Tile:
    frame = data.water if not data.water.empty else data.water_other
    if frame.empty:
        return Tile("水质", f"{data.word}无水质数据", _water_newest_note(data), "none")
    cls = pd.to_numeric(frame["class"], errors="coerce")
    good = int((cls <= 3).sum())
    evaluated = int(cls.notna().sum())
    meets = frame["meets_target"].astype("boolean")
    missed = int(meets.eq(False).fillna(False).sum())
    judged = int(meets.notna().sum())
    note = f"{data.word}有数据的断面 {evaluated} 个，Ⅰ–Ⅲ类 {good} 个"
    if judged:
        note += f"；未达目标类别 {missed} 个"
    else:
        note += "；均未设定目标类别"
    # the plan's water target when it has a value, so the tile and the scorecard agree
    target = _row(data.scorecard, "water.good_ratio")
    if target is not None and not missing(target["week_met"]):
        return Tile(
            f"{target['label']}（{data.word}）",
            str(target["week_text"]),
            f"目标 {target['goal']}；{note}",
            _state(target["week_met"]),
        )
    value = f"{100 * good / evaluated:.0f}% 优良" if evaluated else NO_DATA
    state = "none" if not evaluated else ("good" if good == evaluated and missed == 0 else "bad")
    return Tile(f"{data.word}水质断面", value, note, state)


def _water_newest_note(data: ReportData) -> str:
    if data.water_newest:
        return f"库中最新水质数据：{data.water_newest}"
    return "库中尚无水质数据"


def headlines(data: ReportData) -> list[str]:
    """A few sentences that say what matters this week, most important first."""
    out: list[str] = []
    region = data.region.district
    word = data.word
    days = data.air_days_with_data
    if not days:
        out.append(f"{word}无空气质量数据。")
    elif len(days) < data.period.days:
        have = set(days)
        lacking = [d for d in data.days if d not in have]
        listed, missing_listed = (days, "") if len(days) <= len(lacking) else (lacking, "缺 ")
        shown = "、".join(f"{d:%m-%d}" for d in listed[:10]) + (" 等" if len(listed) > 10 else "")
        out.append(
            f"注意：{word} {data.period.days} 天中只有 {len(days)} 天有空气质量数据"
            f"（{missing_listed}{shown}），以下空气统计只反映这几天。"
        )
    valid = [d for d in data.district_days if d.valid]
    if valid:
        good = [d for d in valid if d.aqi <= 100]
        polluted = [d for d in valid if d.aqi > 100]
        text = f"{region}{word}有效 {len(valid)} 天，优良 {len(good)} 天"
        if polluted:
            worst = max(polluted, key=lambda d: d.aqi)
            text += (
                f"，污染 {len(polluted)} 天（最重 {worst.date:%m-%d}，AQI {worst.aqi:.0f}，"
                f"{worst.category}）"
            )
        primaries: dict[str, int] = {}
        for d in valid:
            for p in filter(None, d.primary.split(",")):
                name = "O3" if p.startswith("O3") else p
                primaries[name] = primaries.get(name, 0) + 1
        if primaries:
            text += "；首要污染物：" + "、".join(f"{k} {v} 天" for k, v in primaries.items())
        out.append(text + "。")
    elif days:
        out.append(f"{region}{word}没有有效的区县日均值（站点数据不足）。")
    summary = data.districts
    ranked = summary.loc[~summary["no_data"]]
    me = summary.loc[summary["is_region"]]
    if not ranked.empty and not me.empty and not bool(me["no_data"].iloc[0]):
        row = me.iloc[0]
        ties = int((ranked["rank_good_day_ratio"] == row["rank_good_day_ratio"]).sum())
        tie = "并列" if ties > 1 else ""
        text = (
            f"全市有数据的 {len(ranked)} 个区县中，{region}优良率{tie}第 "
            f"{int(row['rank_good_day_ratio'])} 名"
        )
        if not missing(row["rank_comprehensive_index"]):
            text += f"，综合指数第 {int(row['rank_comprehensive_index'])} 名（越小越好）"
        nodata = summary.loc[summary["no_data"], "district"].tolist()
        if nodata:
            text += f"；无数据：{'、'.join(nodata)}"
        out.append(text + "。")
    out += _comparison_sentences(data)
    out.append(_water_sentence(data))
    out.append(_zero_discharge_sentence(data))
    out.append(_zero_waste_sentence(data))
    missed = data.scorecard.loc[data.scorecard["ytd_met"].eq(False).fillna(False)]
    if not missed.empty:
        out.append(
            "年初至今未达目标："
            + "；".join(f"{r.label} {r.ytd_text}（目标 {r.goal}）" for r in missed.itertuples())
            + "。"
        )
    return out


TREND_WORDS = {"↑": "上升", "↓": "下降", "→": "持平"}


def _comparison_sentences(data: ReportData) -> list[str]:
    """环比 and 同比 of the good-day ratio and PM2.5 (month and year reports), a sentence each:
    ``环比（上月）：优良率 58.3% → 53.3%（下降）；PM2.5 59 → 72 µg/m³（上升）。``"""
    sc = data.scorecard
    if data.kind == "week" or "prev_text" not in sc:
        return []
    spans = [("prev", "环比（上月）")] if data.kind == "month" else []
    spans.append(("yoy", "同比（去年同月）" if data.kind == "month" else "同比（上年同期）"))
    names = {"air.good_day_ratio": "优良率", "air.pm25_annual": "PM2.5"}
    out = []
    for key, title in spans:
        parts = []
        for target_id, name in names.items():
            row = _row(sc, target_id)
            if row is None:
                continue
            before = str(row[f"{key}_text"])
            if before == NO_DATA or row["week_text"] == NO_DATA:
                parts.append(f"{name}无可比数据")
                continue
            word = TREND_WORDS.get(str(row[f"{key}_trend"]), "")
            parts.append(f"{name} {before} → {row['week_text']}" + (f"（{word}）" if word else ""))
        if parts and all(p.endswith("无可比数据") for p in parts):
            out.append(f"{title}：无数据（库中没有比较期的数据）。")
        elif parts:
            out.append(f"{title}：" + "；".join(parts) + "。")
    return out


def outlook_sentences(data: ReportData) -> list[str]:
    """The year's outlook (month and year reports): good days, PM2.5 and water, a sentence
    each; none for a week."""
    view = data.outlook
    if view is None:
        return []
    labels = {"good_days": "", "pm25": "", "water": "水质："}  # the first two name themselves
    return [
        f"{labels[key]}{part.text()}" for key in labels if (part := getattr(view, key)) is not None
    ]


DETAIL_PART_MAX = 160
"""A scorecard detail's parts longer than this many characters are cut (…) on the page."""


def short_detail(text: Any) -> str:
    """A scorecard detail for the page: each part (split at ；) cut to `DETAIL_PART_MAX`
    characters, so that a long validity note does not fill the page."""
    if missing(text):
        return ""
    parts = [
        p if len(p) <= DETAIL_PART_MAX else p[: DETAIL_PART_MAX - 1] + "…"
        for p in str(text).split("；")
    ]
    return "；".join(parts)


def _water_sentence(data: ReportData) -> str:
    if data.water.empty and data.water_other.empty:
        return f"{data.word}无水质数据。" + (
            f"（{_water_newest_note(data)}）" if data.water_newest else ""
        )
    frame = data.water if not data.water.empty else data.water_other
    where = data.region.city if not data.water.empty else "全部"
    classes = pd.to_numeric(frame["class"], errors="coerce").dropna().astype(int).tolist()
    by_class = "，".join(
        f"{'劣Ⅴ' if c == 6 else gb3838.CLASS_LABELS[c]}类 {classes.count(c)} 个"
        for c in sorted(set(classes))
    )
    text = f"水质：{data.word}{where}有数据的断面 {len(frame)} 个（{by_class}）"
    missed = frame.loc[frame["meets_target"].astype("boolean").eq(False).fillna(False)]
    if not missed.empty:
        text += f"；未达目标：{'、'.join(missed['site_name'].astype(str))}"
    return text + "。"


def _zero_discharge_sentence(data: ReportData) -> str:
    zd = data.zero_discharge
    if not zd.has_data:
        return "污水零直排：尚无排口巡查和零直排区数据。"
    parts = []
    if zd.outfalls.empty:
        parts.append("尚无排口数据")
    elif zd.inspections.empty:
        parts.append(f"{data.word}无排口巡查记录（{_newest_inspection(zd)}）")
    else:
        bad = zd.violations
        text = f"{data.word}巡查排口 {len(zd.inspections)} 次，违规 {len(bad)} 次"
        if not bad.empty:
            found = [
                f"{r['outfall_name']} {str(r['time_local'])[5:10]} "
                f"{str(r['violation']).split('：')[0]}"
                for r in bad.to_dict("records")
            ]
            text += "（" + "；".join(found) + "）"
        missed = zd.outfalls.loc[zd.outfalls["state"] == "not_inspected", "name"]
        if not missed.empty:
            text += f"；{data.word}未巡查排口 {len(missed)} 个（{_names(missed.astype(str).tolist(), 3)}）"
        parts.append(text)
    zones = zd.zones
    if not zones.empty:
        done = int(zones["state"].isin(["accepted", "reinspected"]).sum())
        text = f"零直排区已验收 {done}/{len(zones)} 个"
        news = [f"{r['name']}{r['this_week']}" for r in zones.to_dict("records") if r["this_week"]]
        if news:
            text += "，" + "、".join(news)
        overdue = zones.loc[zones["overdue"].astype(bool), "name"].astype(str).tolist()
        if overdue:
            text += f"；逾期未验收：{'、'.join(overdue)}"
        parts.append(text)
    return "污水零直排：" + "；".join(parts) + "。"


def _zero_waste_sentence(data: ReportData) -> str:
    zw = data.zero_waste
    if not zw.has_cells and not zw.has_indicator_data:
        return "无废城市：尚无指标和细胞数据。"
    parts = []
    if zw.has_cells:
        year = zw.year
        built = zw.cells.loc[zw.cells["built_this_year"].astype(bool)]
        text = f"{year} 年已建成无废细胞 {len(built)} 个"
        week = zw.cells.loc[zw.cells["built_this_week"].astype(bool)]
        if not week.empty:
            text += f"，{data.word}新建成：" + "、".join(
                f"{r['name']}（{r['cell_type']}）" for r in week.to_dict("records")
            )
        if zw.tasks:
            lagging = zw.by_type.loc[zw.by_type["done"].eq(False).fillna(False), "cell_type"]
            text += (
                f"；未完成年度任务的类型：{'、'.join(lagging.astype(str))}"
                if not lagging.empty
                else "；各类年度任务均已完成"
            )
        else:
            text += f"（未设 {year} 年建设任务）"
        parts.append(text)
    else:
        parts.append("尚无细胞数据")
    ind = zw.indicators
    judged = ind.loc[ind["met"].notna()]
    missed = judged.loc[~judged["met"].astype(bool)]
    if not missed.empty:
        parts.append(
            "未达标指标："
            + "、".join(
                f"{r['name']} {_value_text(r['value'], r['unit'])}（目标 {r['goal']}）"
                for r in missed.to_dict("records")
            )
        )
    elif not judged.empty:
        parts.append(f"设定目标的 {len(judged)} 项指标均达标")
    elif not zw.has_indicator_data:
        parts.append("尚无指标数据")
    return "无废城市：" + "；".join(parts) + "。"


def _value_text(value: Any, unit: Any) -> str:
    """An indicator's value with its unit (``99.6%``, ``2,950 吨``); 无数据 when missing."""
    if missing(value):
        return NO_DATA
    text = f"{float(value):,.2f}".rstrip("0").rstrip(".")
    unit = "" if missing(unit) else str(unit)
    return f"{text}{unit}" if unit in ("%", "‰") else f"{text} {unit}".rstrip()


def aqi_legend() -> list[tuple[str, str, str]]:
    """(colour, category, AQI range) of HJ 633 Table A.1."""
    ranges = ("0–50", "51–100", "101–150", "151–200", "201–300", "> 300")
    return list(zip(hj633.CATEGORY_COLOURS, hj633.CATEGORIES, ranges, strict=True))


def water_legend() -> list[tuple[str, str]]:
    """(colour, label) of the water classes."""
    return [
        (WATER_HEX["blue"], "Ⅰ–Ⅱ类 优"),
        (WATER_HEX["green"], "Ⅲ类 良好"),
        (WATER_HEX["yellow"], "Ⅳ类 轻度污染"),
        (WATER_HEX["orange"], "Ⅴ类 中度污染"),
        (WATER_HEX["red"], "劣Ⅴ类 重度污染"),
    ]


def zone_legend() -> list[tuple[str, str]]:
    """(colour, label) of the zones' states."""
    return [(ZONE_COLOURS[k], ZONE_STATE_LABELS[k]) for k in ZONE_COLOURS]


def outfall_legend(word: str = "本周") -> list[tuple[str, str]]:
    """(colour, label) of the outfalls' triangles; `word` 本周, 本月 or 本年."""
    return [
        (OUTFALL_COLOURS[k], OUTFALL_STATE_LABELS[k].replace("本周", word)) for k in OUTFALL_COLOURS
    ]


def cell_legend(zw: ZeroWaste) -> list[tuple[str, str, str]]:
    """(colour, letter, type) of each kind of cell."""
    return [(c, cell_letter(t), t) for t, c in cell_colours(zw.types).items()]


def _register_text(data: ReportData, kind: str) -> str | None:
    """What a staff sheet without a time of its own holds: zones and cells (registers), and
    the newest indicator period (its end, the first instant after it, would read as a date
    in the next month)."""
    if kind == "indicator-sheet":
        newest = data.zero_waste.newest_period
        return f"统计期：{newest}" if newest else None
    if kind == "zone-sheet":
        n = len(data.zero_discharge.zones)
        return f"台账：零直排区 {n} 个" if n else None
    if kind == "cells-sheet":
        n = len(data.zero_waste.cells)
        return f"台账：无废细胞 {n} 个" if n else None
    return None


def _freshness_rows(data: ReportData) -> list[dict[str, str]]:
    rows = []
    for r in data.freshness.to_dict("records"):
        newest = r.get("newest_data")
        register = _register_text(data, str(r.get("kind")))
        if register:
            newest = register
        rows.append(
            {
                "source": str(r.get("source", "")),
                "kind": SOURCE_KIND_TEXT.get(str(r.get("kind")), str(r.get("kind") or "")),
                "newest": NO_DATA if newest in (None, "no data") else str(newest),
                "last_run": "从未运行"
                if r.get("last_run") == "never"
                else re.sub(r"^#\d+\s*", "", str(r.get("last_run"))),
                "status": STATUS_TEXT.get(str(r.get("status") or ""), str(r.get("status"))),
                "status_class": str(r.get("status") or "none"),
            }
        )
    return rows


def _water_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for r in frame.to_dict("records"):
        target: Any = r.get("target_class")
        meets = r.get("meets_target")
        colour = r.get("colour")
        rows.append(
            {
                "name": r.get("site_name"),
                "district": r.get("district"),
                "kind": r.get("kind_label"),
                "level": r.get("control_level"),
                "n": r.get("n_samples"),
                "class": r.get("class_label"),
                "status": r.get("status"),
                "colour": WATER_HEX.get(str(colour), "#D1D5DB"),
                "target": "未设定"
                if missing(target)
                else ("劣Ⅴ" if int(target) == 6 else gb3838.CLASS_LABELS[int(target)]),
                "meets": None if missing(meets) else bool(meets),
                "pollutants": r.get("main_pollutants") or "—",
                "placed": not (missing(r.get("lat")) or missing(r.get("lon"))),
            }
        )
    return rows


def _invalid_rows(invalid: pd.DataFrame, compact: bool = False) -> list[dict[str, Any]]:
    """One row per station and reason, with the dates joined; background stations last.

    `compact` (a month or a year): one row per station, its invalid days counted, the first
    dates listed and the most frequent reason (a station out for weeks would otherwise fill
    pages with one row per distinct hour count)."""
    if invalid.empty:
        return []
    rows = []
    keys = ["site_id"] if compact else ["site_id", "problem"]
    for key, group in invalid.groupby(keys, sort=False):
        first = group.iloc[0]
        dates = [f"{d:%m-%d}" for d in group["date"]]
        shown = "、".join(dates[:8]) + (f" 等 {len(dates)} 天" if len(dates) > 8 else "")
        problem = str(first["problem"])
        if compact:
            reasons = group["problem"].value_counts()
            problem = str(reasons.index[0])
            if len(reasons) > 1:
                problem += f"（{int(reasons.iloc[0])} 天；其余 {len(dates) - int(reasons.iloc[0])} 天原因各异）"
        rows.append(
            {
                "site_id": key[0] if isinstance(key, tuple) else key,
                "name": first["name"],
                "district": first["district"],
                "background": bool(first["background"]),
                "dates": shown,
                "n_days": len(dates),
                "problem": problem,
            }
        )
    return sorted(rows, key=lambda r: (r["background"], str(r["district"]), r["site_id"]))


def _count(value: Any) -> str:
    """A count for the tables: 无数据 when missing, never zero in its place."""
    return NO_DATA if missing(value) else str(int(value))


def _names(value: Any, limit: int = 6) -> str:
    """Outfall names joined (the first `limit`, then 等 N 个); — for none, 无数据 if missing."""
    if value is None or (not isinstance(value, list) and missing(value)):
        return NO_DATA
    names = [str(v) for v in value]
    if not names:
        return "—"
    shown = "、".join(names[:limit])
    return shown + (f" 等 {len(names)} 个" if len(names) > limit else "")


def violation_rows(zd: ZeroDischarge) -> list[dict[str, Any]]:
    """The week's violations: time, outfall, zone, weather, what was found."""
    rows = []
    for r in zd.violations.to_dict("records"):
        rows.append(
            {
                "time": str(r["time_local"])[5:],
                "date": str(r["time_local"])[:10],
                "outfall": r["outfall_name"],
                "site_id": r["site_id"],
                "zone": NO_ZONE if missing(r["zone"]) else r["zone"],
                "weather": r["weather"],
                "violation": r["violation"],
                "kind": str(r["violation"]).split("：", 1)[0],
            }
        )
    return rows


def zone_count_rows(zd: ZeroDischarge) -> list[dict[str, Any]]:
    """Per zone: outfalls, and the week's and the year's inspections, violations and outfalls
    not inspected (无数据 where the span has no inspection at all)."""
    rows = []
    for r in zd.zone_counts.to_dict("records"):
        no_outfalls = not int(r["outfalls"])
        rows.append(
            {
                "zone": r["zone"],
                "outfalls": int(r["outfalls"]),
                "no_outfalls": no_outfalls,
                "week_inspections": _count(r["week_inspections"]),
                "week_violations": _count(r["week_violations"]),
                "week_bad": not missing(r["week_violations"]) and int(r["week_violations"]) > 0,
                "week_not_inspected": _names(r["week_not_inspected"]),
                "ytd_inspections": _count(r["ytd_inspections"]),
                "ytd_violations": _count(r["ytd_violations"]),
                "ytd_bad": not missing(r["ytd_violations"]) and int(r["ytd_violations"]) > 0,
                "ytd_not_inspected": _names(r["ytd_not_inspected"]),
            }
        )
    return rows


def zone_rows(zd: ZeroDischarge) -> list[dict[str, Any]]:
    """The zones with their state at the week's end (overdue ones first) and their dates."""
    rows = []
    for r in zd.zones.to_dict("records"):
        rows.append(
            {
                "name": r["name"],
                "type": r["type_label"],
                "town": "—" if missing(r["town"]) else r["town"],
                "state": r["state"],
                "state_label": r["state_label"],
                "colour": ZONE_COLOURS[str(r["state"])],
                "overdue": bool(r["overdue"]),
                "this_week": r["this_week"],
                "started_on": _day_text(r["started_on"]),
                "due_on": _day_text(r["due_on"]),
                "accepted_on": _day_text(r["accepted_on"]),
                "reinspected_on": _day_text(r["reinspected_on"]),
            }
        )
    return rows


def _day_text(value: Any) -> str:
    return "—" if missing(value) or not str(value).strip() else str(value)[:10]


def indicator_rows(zw: ZeroWaste) -> list[dict[str, Any]]:
    """Each indicator: latest value, its period, the goal, and met / not met / 未设目标."""
    rows = []
    for r in zw.indicators.to_dict("records"):
        has_value = not missing(r["value"])
        if not has_value:
            verdict = "nodata"
        elif missing(r["met"]):
            verdict = "nogoal"
        else:
            verdict = "met" if bool(r["met"]) else "missed"
        rows.append(
            {
                "name": r["name"],
                "value": _value_text(r["value"], r["unit"]),
                "period": (r["period"] + ("（暂估）" if r["provisional"] else ""))
                if has_value
                else "—",
                "goal": r["goal"],
                "verdict": verdict,
            }
        )
    return rows


def cell_type_rows(zw: ZeroWaste) -> list[dict[str, Any]]:
    """Per kind of cell: built this year against the task, built earlier, being built."""
    colours = cell_colours(zw.types)
    rows = []
    for r in zw.by_type.to_dict("records"):
        t = str(r["cell_type"])
        rows.append(
            {
                "type": t,
                "colour": colours[t],
                "letter": cell_letter(t),
                "built_ytd": int(r["built_ytd"]),
                "task": None if missing(r["task"]) else int(r["task"]),
                "done": None if missing(r["done"]) else bool(r["done"]),
                "built_before": int(r["built_before"]),
                "building": int(r["building"]),
            }
        )
    return rows


def cell_totals(zw: ZeroWaste) -> dict[str, int]:
    """The cell table's total row: built this year, the task, kinds behind, earlier, building."""
    by_type = zw.by_type
    return {
        "built_ytd": int(by_type["built_ytd"].sum()),
        "task": int(by_type["task"].fillna(0).sum()),
        "lagging": int(by_type["done"].eq(False).fillna(False).sum()),
        "built_before": int(by_type["built_before"].sum()),
        "building": int(by_type["building"].sum()),
    }


def cell_rows(zw: ZeroWaste) -> list[dict[str, Any]]:
    """Every cell: built ones first (newest first), then those being built."""
    colours = cell_colours(zw.types)
    frame = zw.cells.assign(
        _built=zw.cells["state"] == "built", _on=zw.cells["built_on"].fillna("")
    ).sort_values(["_built", "_on", "cell_type", "name"], ascending=[False, False, True, True])
    rows = []
    for r in frame.to_dict("records"):
        t = str(r["cell_type"])
        rows.append(
            {
                "name": r["name"],
                "type": t,
                "colour": colours.get(t, "#6B7280"),
                "letter": cell_letter(t),
                "built": r["state"] == "built",
                "state": CELL_STATE_LABELS[str(r["state"])],
                "built_on": _day_text(r["built_on"]),
                "this_week": bool(r["built_this_week"]),
                "address": "—" if missing(r["address"]) or not r["address"] else r["address"],
                "placed": not (missing(r["lon"]) or missing(r["lat"])),
            }
        )
    return rows


REPORT_NAMES = {"week": "周报", "month": "月报", "year": "年报"}


def period_charts(data: ReportData) -> list[Markup]:
    """The air charts of the period: a week's daily AQI, PM2.5 and O3 bars; a month's
    calendar of daily AQI categories (日历图) and its daily PM2.5 and O3 bars; a year's
    12-month strip and its monthly PM2.5 means and O3 90th percentiles."""
    district = data.region.district
    days = data.district_days
    if data.kind == "year":
        return _year_charts(data)
    ticks = charts.month_ticks(days) if data.kind == "month" else None
    width = 760 if data.kind == "month" else 360
    pm25 = charts.pollutant_chart(
        f"{district} PM2.5 日均浓度",
        days,
        [d.pm25 for d in days],
        data.limits["pm25"],
        ticks=ticks,
        width=width,
    )
    o3 = charts.pollutant_chart(
        f"{district} O3 日最大8小时平均（MDA8）",
        days,
        [d.o3_8h for d in days],
        data.limits["o3_8h"],
        limit_label="二级限值",
        ticks=ticks,
        width=width,
    )
    if data.kind == "month":
        title = f"{district}{data.title}每日空气质量（AQI 类别）"
        return [charts.calendar(title, data.calendar_days), pm25, o3]
    return [charts.aqi_chart(district, days), pm25, o3]


def month_tallies(data: ReportData) -> list[charts.MonthTally]:
    """The district's days of a year counted by month and HJ 633 category."""
    out = []
    for month in range(1, 13):
        mine = [d for d in data.district_days if d.date.month == month]
        counts = [0] * len(hj633.CATEGORIES)
        for d in mine:
            if d.valid and d.category in hj633.CATEGORIES:
                counts[hj633.CATEGORIES.index(d.category)] += 1
        # days without a valid value, in a month with data at all (else the month is 无数据)
        any_row = any(d.problem != NO_DATA for d in mine)
        invalid = sum(1 for d in mine if not d.valid) if any_row else 0
        out.append(charts.MonthTally(month, tuple(counts), invalid, not mine))
    return out


def _year_charts(data: ReportData) -> list[Markup]:
    import numpy as np

    district = data.region.district
    tallies = month_tallies(data)
    strip = charts.month_strip(
        f"{district}{data.title}逐月空气质量（各类别天数）", tallies, data.good_day_goal
    )
    view = data.outlook
    pm_goal = view.pm25.goal if view is not None and view.pm25 is not None else math.nan
    pm, o3 = [], []
    for month in range(1, 13):
        mine = [d for d in data.district_days if d.date.month == month]
        pms = [d.pm25 for d in mine if not math.isnan(d.pm25)]
        o3s = [d.o3_8h for d in mine if not math.isnan(d.o3_8h)]
        pm.append(float(np.mean(pms)) if pms else math.nan)
        o3.append(float(np.percentile(o3s, 90)) if o3s else math.nan)
    ticks = [(f"{m}月", "") for m in range(1, 13)]
    year = data.period.start.year
    nan = math.nan
    placeholder = [
        Day(date(year, m, 1), nan, None, None, False, nan, nan, "", "") for m in range(1, 13)
    ]
    pm_chart = charts.pollutant_chart(
        f"{district} PM2.5 月均浓度",
        placeholder,
        pm,
        pm_goal if not math.isnan(pm_goal) else data.limits["pm25"],
        limit_label="年均目标" if not math.isnan(pm_goal) else "日均限值",
        ticks=ticks,
        width=560,
    )
    o3_chart = charts.pollutant_chart(
        f"{district} O3 日最大8小时平均，月第90百分位",
        placeholder,
        o3,
        data.limits["o3_8h"],
        limit_label="二级限值",
        ticks=ticks,
        width=560,
    )
    return [strip, pm_chart, o3_chart]


def ranking_rows(data: ReportData) -> list[dict[str, Any]]:
    """The city's districts for the period: rank by good-day ratio, the ratio, valid days,
    PM2.5 mean and the comprehensive index with its rank; the region's row marked."""
    rows = []
    for r in data.ranking.to_dict("records"):
        nodata = bool(r["no_data"])
        rows.append(
            {
                "rank": "—" if nodata or missing(r["rank"]) else int(r["rank"]),
                "district": r["district"],
                "ratio": fmt_number(None if nodata else r["good_day_ratio"], 1, "%"),
                "days": 0 if missing(r["n_valid_days"]) else int(r["n_valid_days"]),
                "pm25": fmt_number(None if nodata else r["pm25_mean"], 0),  # as published
                "ci": fmt_number(None if nodata else r["comprehensive_index"], 2),
                "ci_rank": "—"
                if nodata or missing(r["rank_comprehensive_index"])
                else int(r["rank_comprehensive_index"]),
                "region": bool(r["is_region"]),
                "nodata": nodata,
            }
        )
    return rows


def _class_text(value: Any) -> str:
    if missing(value):
        return "—"
    c = int(value)
    return "劣Ⅴ" if c == 6 else gb3838.CLASS_LABELS[c]


def water_month_rows(data: ReportData) -> list[dict[str, Any]]:
    """A year's sections with their class in each month (colour, label; — without samples),
    their target class and how many months missed it."""
    frame = data.water_months
    if frame.empty:
        return []
    rows = []
    for r in frame.to_dict("records"):
        target: Any = r.get("target_class")
        cells = []
        missed = 0
        for m in range(1, 13):
            value: Any = r.get(str(m))
            bad = not missing(value) and not missing(target) and int(value) > int(target)
            missed += bad
            colour = (
                "#FFFFFF"
                if missing(value)
                else WATER_HEX.get(gb3838.CLASS_STATUS[int(value)][1], "#D1D5DB")
            )
            cells.append({"text": _class_text(value), "colour": colour, "bad": bad})
        rows.append(
            {
                "name": r["site_name"],
                "district": "—" if missing(r.get("district")) else r["district"],
                "target": "未设定" if missing(target) else _class_text(target),
                "cells": cells,
                "missed": missed,
            }
        )
    return sorted(rows, key=lambda x: (-x["missed"], str(x["name"])))


def render(data: ReportData, map_parts: MapParts) -> str:
    """The whole page as one HTML string."""
    try:
        envwatch_version = version("envwatch")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        envwatch_version = "dev"
    air_charts = period_charts(data)
    water = data.water
    missed_target = (
        water.loc[water["meets_target"].astype("boolean").eq(False).fillna(False)]
        if not water.empty
        else water
    )
    any_target = bool(not water.empty and water["target_class"].notna().any())
    stations_by_id = {s.site_id: s for s in data.stations}
    context = {
        "d": data,
        "assets": map_assets(),
        "map": map_parts,
        "tiles": tiles(data),
        "headlines": headlines(data),
        "scorecard": [
            {**r, "detail": short_detail(r["detail"])} for r in data.scorecard.to_dict("records")
        ],
        "air_charts": air_charts,
        "report_name": REPORT_NAMES[data.kind],
        "outlook": outlook_sentences(data),
        "ranking_rows": ranking_rows(data),
        "water_month_rows": water_month_rows(data),
        "months": list(range(1, 13)),
        "ratio_bins": ratio_bins(data.good_day_goal),
        "aqi_legend": aqi_legend(),
        "water_legend": water_legend(),
        "water_rows": _water_rows(water),
        "water_other_rows": _water_rows(data.water_other),
        "missed_rows": _water_rows(missed_target),
        "any_target": any_target,
        "invalid": _invalid_rows(data.invalid_days, compact=data.kind != "week"),
        "problems": data.problems,
        "stations": data.stations,
        "stations_by_id": stations_by_id,
        "freshness": _freshness_rows(data),
        "zd": data.zero_discharge,
        "zw": data.zero_waste,
        "violation_rows": violation_rows(data.zero_discharge),
        "zone_count_rows": zone_count_rows(data.zero_discharge),
        "zone_rows": zone_rows(data.zero_discharge),
        "indicator_rows": indicator_rows(data.zero_waste),
        "cell_type_rows": cell_type_rows(data.zero_waste),
        "cell_rows": cell_rows(data.zero_waste),
        "cell_totals": cell_totals(data.zero_waste),
        "zone_legend": zone_legend(),
        "outfall_legend": outfall_legend(data.word),
        "cell_legend": cell_legend(data.zero_waste),
        "newest_inspection": _newest_inspection(data.zero_discharge),
        "version": envwatch_version,
        "missing": missing,
        "esc": esc,
        "Markup": Markup,
    }
    return _environment().get_template("report.html.j2").render(**context)
