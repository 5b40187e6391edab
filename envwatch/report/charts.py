"""The report's charts: static SVG written at build time, text as text (CJK font list).

Bars for each day of the week; a day without a value shows 无数据 at its place, never a zero
bar. Limit lines are drawn dashed with their value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from envwatch.report.data import WEEKDAYS, Day
from envwatch.report.escape import esc
from envwatch.standards import aqi as hj633

FONT_FAMILY = (
    "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', "
    "'Hiragino Sans GB', 'WenQuanYi Micro Hei', SimHei, sans-serif"
)

AQI_BANDS = (
    (50, "#00E400"),
    (100, "#FFFF00"),
    (150, "#FF7E00"),
    (200, "#FF0000"),
    (300, "#99004C"),
)
BAR = "#5B7DB1"
AQI_COLOURS = hj633.CATEGORY_COLOURS
AQI_NAMES = hj633.CATEGORIES
OVER = "#D9473B"


@dataclass(frozen=True)
class Line:
    """A horizontal reference line (a limit) with its label."""

    value: float
    label: str
    colour: str = OVER


def _nice_max(values: Sequence[float], floor: float, step: float) -> float:
    top = max([v for v in values if not math.isnan(v)], default=0.0)
    return math.ceil(max(floor, top * 1.15) / step) * step


def _axis(
    left: int,
    right: int,
    top: int,
    plot_h: int,
    y_max: float,
    step: float,
    unit: str,
    bands: Sequence[tuple[float, str]],
) -> list[str]:
    """The grid lines with their values, the unit, and the strip of `bands` along the axis."""

    def y(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    parts = []
    # grid and axis labels
    tick = step
    v = 0.0
    while v <= y_max + 1e-9:
        yy = y(v)
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{yy:.1f}" y2="{yy:.1f}" '
            f'stroke="#E5E7EB" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{yy + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#6B7280">{v:g}</text>'
        )
        v += tick
    parts.append(
        f'<text x="{left - 6}" y="{top - 8}" font-size="11" text-anchor="end" fill="#6B7280">'
        f"{esc(unit)}</text>"
    )
    lower = 0.0
    for upper, colour in bands:  # a strip along the axis: what each range of values means
        if lower >= y_max:
            break
        hi = min(upper, y_max)
        parts.append(
            f'<rect x="{left - 4}" y="{y(hi):.1f}" width="4" height="{y(lower) - y(hi):.1f}" '
            f'fill="{colour}"/>'
        )
        lower = upper
    return parts


def bar_chart(
    title: str,
    days: Sequence[Day],
    values: Sequence[float],
    colours: Sequence[str],
    *,
    unit: str,
    floor: float,
    step: float,
    lines: Sequence[Line] = (),
    labels: Sequence[str] | None = None,
    bands: Sequence[tuple[float, str]] = (),
    width: int = 360,
    height: int = 230,
    ticks: Sequence[tuple[str, str]] | None = None,
) -> Markup:
    """One bar per day (Monday … Sunday) with optional limit lines; 无数据 where NaN.

    `ticks` (two lines under each bar) replaces the dates and weekdays of `days`: a month's
    charts write the day of the month, a year's the months."""
    left, right, top, bottom = 40, 8, 34, 44
    plot_w = width - left - right
    plot_h = height - top - bottom
    y_max = _nice_max([*values, *(line.value for line in lines)], floor, step)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    slot = plot_w / len(days)
    bar_w = slot * 0.56
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{esc(title)}" '
        f'font-family="{FONT_FAMILY}">',
        f"<title>{esc(title)}</title>",
        f'<text x="{left}" y="18" font-size="14" font-weight="bold" fill="#111827">{esc(title)}</text>',
    ]
    parts += _axis(left, width - right, top, plot_h, y_max, step, unit, bands)
    label_above = ticks is not None  # many bars: the limit's label above the plot, not on it
    if ticks is None:
        ticks = [(f"{d.date:%m-%d}", f"周{WEEKDAYS[d.date.weekday()]}") for d in days]
    narrow = slot < 30  # a month's bars: no room for 无数据 or the values' full text
    value_size = 10 if narrow else 12
    for i, (pair, value, colour) in enumerate(zip(ticks, values, colours, strict=True)):
        cx = left + slot * (i + 0.5)
        label, under = pair
        parts.append(
            f'<text x="{cx:.1f}" y="{height - 26}" font-size="11" text-anchor="middle" '
            f'fill="#374151">{esc(label)}</text>'
            f'<text x="{cx:.1f}" y="{height - 11}" font-size="11" text-anchor="middle" '
            f'fill="#6B7280">{esc(under)}</text>'
        )
        if math.isnan(value):
            parts.append(
                f'<text x="{cx:.1f}" y="{top + plot_h - 6}" font-size="11" text-anchor="middle" '
                f'fill="#9CA3AF">{"–" if narrow else "无数据"}</text>'
            )
            continue
        yy = y(value)
        text = labels[i] if labels is not None else f"{value:.0f}"
        parts.append(
            f'<rect x="{cx - bar_w / 2:.1f}" y="{yy:.1f}" width="{bar_w:.1f}" '
            f'height="{top + plot_h - yy:.1f}" fill="{colour}" stroke="#374151" '
            f'stroke-width="0.6"><title>{label}：{esc(text)} {esc(unit)}</title></rect>'
            f'<text x="{cx:.1f}" y="{yy - 4:.1f}" font-size="{value_size}" text-anchor="middle" '
            f'fill="#111827">{esc(text if not narrow else text.split(" ")[0])}</text>'
        )
    for line in lines:
        yy = y(line.value)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" '
            f'stroke="{line.colour}" stroke-width="1.5" stroke-dasharray="6 4"/>'
            f'<text x="{width - right}" y="{(top - 8) if label_above else (yy - 4):.1f}" '
            f'font-size="11" text-anchor="end" fill="{line.colour}">'
            f"{'虚线：' if label_above else ''}{esc(line.label)}</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="#9CA3AF" stroke-width="1"/></svg>'
    )
    return Markup("".join(parts))


def aqi_chart(district: str, days: Sequence[Day]) -> Markup:
    """The district's daily AQI, bars in HJ 633 category colours, the 良 limit (100) marked."""
    values = [d.aqi if d.valid else math.nan for d in days]
    colours = [d.colour or "#D1D5DB" for d in days]
    labels = [f"{d.aqi:.0f} {d.category}" if d.valid else "" for d in days]
    return bar_chart(
        f"{district}每日空气质量指数（AQI）",
        days,
        values,
        colours,
        unit="AQI",
        floor=150,
        step=50,
        lines=[Line(100, "AQI 100")],
        labels=labels,
        bands=AQI_BANDS,
    )


def pollutant_chart(
    title: str,
    days: Sequence[Day],
    values: Sequence[float],
    limit: float,
    *,
    limit_label: str = "日均限值",
    unit: str = "µg/m³",
    ticks: Sequence[tuple[str, str]] | None = None,
    width: int = 360,
) -> Markup:
    """Daily (or, with `ticks`, monthly) values of one pollutant against a limit (bars above
    it in red)."""
    colours = [OVER if not math.isnan(v) and round(v) > limit else BAR for v in values]
    return bar_chart(
        title,
        days,
        values,
        colours,
        unit=unit,
        floor=limit * 1.3,
        step=25 if limit <= 100 else 50,
        lines=[Line(limit, f"{limit_label} {limit:g}")],
        ticks=ticks,
        width=width,
    )


def month_ticks(days: Sequence[Day]) -> list[tuple[str, str]]:
    """Under a month's bars: the day of the month and the weekday (一 … 日)."""
    return [(str(d.date.day), WEEKDAYS[d.date.weekday()]) for d in days]


def calendar(title: str, days: Sequence[Day]) -> Markup:
    """日历图: a month's days in weeks (Monday first), each square in its HJ 633 category
    colour with the day and its AQI; grey with 无数据 for a day without a valid value."""
    cell, gap, left, top = 46, 4, 4, 48
    first = days[0].date
    offset = first.weekday()
    rows = (offset + len(days) + 6) // 7
    width = left * 2 + 7 * (cell + gap)
    height = top + rows * (cell + gap) + 6
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="calendar" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{esc(title)}" '
        f'font-family="{FONT_FAMILY}">',
        f"<title>{esc(title)}</title>",
        f'<text x="{left}" y="18" font-size="14" font-weight="bold" fill="#111827">{esc(title)}</text>',
    ]
    for i, name in enumerate(WEEKDAYS):
        x = left + i * (cell + gap) + cell / 2
        parts.append(
            f'<text x="{x:.0f}" y="{top - 8}" font-size="12" text-anchor="middle" '
            f'fill="#6B7280">{name}</text>'
        )
    for i, d in enumerate(days):
        slot = offset + i
        x = left + (slot % 7) * (cell + gap)
        y = top + (slot // 7) * (cell + gap)
        fill = d.colour if d.valid and d.colour else "#E5E7EB"
        dark = fill in ("#FF0000", "#99004C", "#7E0023")
        ink = "#FFFFFF" if dark else "#111827"
        value = f"{d.aqi:.0f}" if d.valid else "无数据"
        tip = f"{d.date:%m-%d}：" + (f"AQI {d.aqi:.0f} {d.category}" if d.valid else d.problem)
        parts.append(
            f'<g class="day" data-date="{d.date.isoformat()}"><title>{esc(tip)}</title>'
            f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" rx="4" fill="{fill}" '
            f'stroke="#9CA3AF" stroke-width="0.6"/>'
            f'<text x="{x + 5}" y="{y + 14}" font-size="11" fill="{ink}">{d.date.day}</text>'
            f'<text x="{x + cell / 2:.0f}" y="{y + 36}" font-size="{14 if d.valid else 10}" '
            f'font-weight="{"bold" if d.valid else "normal"}" text-anchor="middle" '
            f'fill="{ink if d.valid else "#9CA3AF"}">{value}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class MonthTally:
    """A month of the district's days for the 12-month strip: valid days per HJ 633 category
    (six counts, 优 … 严重污染), days without a valid value, and whether it is to come."""

    month: int
    counts: tuple[int, ...]
    invalid: int
    future: bool

    @property
    def valid(self) -> int:
        return sum(self.counts)

    @property
    def good_ratio(self) -> float:
        """Share of valid days with AQI ≤ 100 (%), NaN without valid days."""
        return math.nan if not self.valid else 100 * (self.counts[0] + self.counts[1]) / self.valid


def month_strip(title: str, months: Sequence[MonthTally], goal: float) -> Markup:
    """The 12-month strip of a year: per month a column of its valid days stacked by HJ 633
    category (优 at the bottom) and the month's good-day ratio above it, red below `goal`."""
    col, gap, left, top, bar_h = 62, 8, 4, 50, 150
    width = left * 2 + 12 * (col + gap)
    height = top + bar_h + 44
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="strip" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{esc(title)}" '
        f'font-family="{FONT_FAMILY}">',
        f"<title>{esc(title)}</title>",
        f'<text x="{left}" y="18" font-size="14" font-weight="bold" fill="#111827">{esc(title)}</text>',
    ]
    for t in months:
        x = left + (t.month - 1) * (col + gap)
        base = top + bar_h
        parts.append(
            f'<text x="{x + col / 2:.0f}" y="{base + 18}" font-size="12" text-anchor="middle" '
            f'fill="#374151">{t.month}月</text>'
        )
        total = t.valid + t.invalid
        if t.future or not total:
            parts.append(
                f'<rect x="{x}" y="{top}" width="{col}" height="{bar_h}" fill="#F9FAFB" '
                f'stroke="#E5E7EB"/><text x="{x + col / 2:.0f}" y="{top + bar_h / 2:.0f}" '
                f'font-size="11" text-anchor="middle" fill="#9CA3AF">'
                f"{'未到' if t.future else '无数据'}</text>"
            )
            continue
        y = float(base)
        tip = [f"{t.month}月：有效 {t.valid} 天"]
        for count, colour, name in zip(t.counts, AQI_COLOURS, AQI_NAMES, strict=True):
            if not count:
                continue
            h = bar_h * count / total
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{col}" height="{h:.1f}" fill="{colour}" '
                f'stroke="#FFFFFF" stroke-width="0.5"/>'
            )
            tip.append(f"{name} {count} 天")
        if t.invalid:
            h = bar_h * t.invalid / total
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{col}" height="{h:.1f}" fill="#E5E7EB"/>'
            )
            tip.append(f"无有效值 {t.invalid} 天")
        ratio = t.good_ratio
        text = "—" if math.isnan(ratio) else f"{ratio:.0f}%"
        colour = "#6B7280" if math.isnan(ratio) else ("#B91C1C" if ratio < goal else "#15803D")
        parts.append(
            f'<text x="{x + col / 2:.0f}" y="{top - 8}" font-size="13" font-weight="bold" '
            f'text-anchor="middle" fill="{colour}">{text}</text>'
            f'<rect x="{x}" y="{top}" width="{col}" height="{bar_h}" fill="none" stroke="#9CA3AF" '
            f'stroke-width="0.6"><title>{esc("，".join(tip))}</title></rect>'
        )
    parts.append(
        f'<text x="{width - 4}" y="{height - 6}" font-size="11" text-anchor="end" fill="#6B7280">'
        f"柱顶数字：当月优良率（红色低于目标 {goal:g}%）；灰色：无有效值</text></svg>"
    )
    return Markup("".join(parts))
