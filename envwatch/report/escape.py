"""Escaping every string that reaches the report page.

folium puts popup and tooltip HTML inside JavaScript template literals (`` `...${x}...` ``)
and writes GeoJSON properties with ``innerHTML``, so text for the map is escaped for HTML *and*
for template literals: ``&`` ``<`` ``>`` ``"`` ``'`` become entities, and so do the backtick
(``&#96;``), the dollar sign (``&#36;``, which would otherwise open ``${...}``) and the
backslash. The browser shows the entities as the original characters; nothing in them runs.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
from markupsafe import Markup

from envwatch.standards.aqi import round_half_even

NO_DATA = "无数据"
"""What the page shows where there is no value (never zero)."""

_TEMPLATE_LITERAL = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;"})


def missing(value: Any) -> bool:
    """True for None, NaN, NaT and pandas' NA."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def esc(value: Any) -> Markup:
    """`value` as text safe in HTML and inside a JavaScript template literal.

    Missing values become 无数据. The result is `Markup`, so Jinja2 does not escape it twice.
    """
    if missing(value):
        return Markup(NO_DATA)
    return Markup(html.escape(str(value), quote=True).translate(_TEMPLATE_LITERAL))


def fmt_number(value: Any, digits: int = 0, unit: str = "") -> str:
    """A number for the page (`digits` decimals, then the unit); 无数据 when missing."""
    if missing(value):
        return NO_DATA
    # once, half to even from full precision, as published (GB/T 8170; the float-noise guard
    # makes 0.35 stored as 0.34999… the half it stands for, which plain formatting would not)
    text = f"{float(round_half_even(float(value), digits)):.{digits}f}"
    return f"{text} {unit}" if unit else text
