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
) -> Markup:
    """One bar per day (Monday … Sunday) with optional limit lines; 无数据 where NaN."""
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
    # grid and axis labels
    tick = step
    v = 0.0
    while v <= y_max + 1e-9:
        yy = y(v)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" '
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
    for i, (day, value, colour) in enumerate(zip(days, values, colours, strict=True)):
        cx = left + slot * (i + 0.5)
        label = f"{day.date:%m-%d}"
        parts.append(
            f'<text x="{cx:.1f}" y="{height - 26}" font-size="11" text-anchor="middle" '
            f'fill="#374151">{label}</text>'
            f'<text x="{cx:.1f}" y="{height - 11}" font-size="11" text-anchor="middle" '
            f'fill="#6B7280">周{WEEKDAYS[day.date.weekday()]}</text>'
        )
        if math.isnan(value):
            parts.append(
                f'<text x="{cx:.1f}" y="{top + plot_h - 6}" font-size="11" text-anchor="middle" '
                f'fill="#9CA3AF">无数据</text>'
            )
            continue
        yy = y(value)
        text = labels[i] if labels is not None else f"{value:.0f}"
        parts.append(
            f'<rect x="{cx - bar_w / 2:.1f}" y="{yy:.1f}" width="{bar_w:.1f}" '
            f'height="{top + plot_h - yy:.1f}" fill="{colour}" stroke="#374151" '
            f'stroke-width="0.6"><title>{label}：{esc(text)} {esc(unit)}</title></rect>'
            f'<text x="{cx:.1f}" y="{yy - 4:.1f}" font-size="12" text-anchor="middle" '
            f'fill="#111827">{esc(text)}</text>'
        )
    for line in lines:
        yy = y(line.value)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" '
            f'stroke="{line.colour}" stroke-width="1.5" stroke-dasharray="6 4"/>'
            f'<text x="{width - right}" y="{yy - 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="{line.colour}">{esc(line.label)}</text>'
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
) -> Markup:
    """Daily values of one pollutant against its daily limit (bars above it in red)."""
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
    )
