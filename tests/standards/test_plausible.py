"""Plausible ranges: every stored parameter has one, the table for staff says the same."""

from __future__ import annotations

import numpy as np
import pandas as pd

from envwatch.standards import plausible
from envwatch.store import PARAMETERS

from conftest import ROOT

DOC = ROOT / "docs" / "plausible-ranges.md"


def test_every_parameter_has_a_range_with_a_reason() -> None:
    for code in PARAMETERS:
        r = plausible.range_for(code)
        assert r is not None and r.lo < r.hi and r.reason, code


def test_the_staff_table_matches_the_code_and_the_readme_links_it() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for code, r in plausible.RANGES.items():
        unit = PARAMETERS[code][1]
        assert f"| `{code}` | {plausible.describe(code, unit)} | {r.reason} |" in doc, code
    assert "(docs/plausible-ranges.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_outside_flags_error_codes_infinities_and_impossible_shares() -> None:
    params = pd.Series(["pm25", "pm25", "pm25", "ph", "ph", "recycling", "waste", "waste", "pm25"])
    units = pd.Series(["µg/m³", "µg/m³", "µg/m³", "1", "1", "%", "万吨", "万吨", "µg/m³"])
    values = np.array([35.0, 99999.0, 1e308, 7.2, 20.0, 150.0, -3.0, 1e9, np.nan])
    assert plausible.outside(params, values, units).tolist() == [
        False,  # an ordinary hour
        True,  # an instrument's error code
        True,  # 1e308 would make AQI 500
        False,
        True,  # pH 20
        True,  # 150 %
        True,  # −3 万吨
        False,  # an amount has no top
        False,  # a withheld value (NaN) is not judged
    ]


def test_described_as_staff_read_it() -> None:
    assert plausible.describe("ph", "1") == "0-14"
    assert plausible.describe("pm25", "µg/m³") == "0-3000 µg/m³"
    assert plausible.describe("waste", "万吨") == "0 or more 万吨"
    assert plausible.describe("share", "%") == "0-100 %"
