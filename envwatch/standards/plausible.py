"""Plausible ranges: values no instrument, lab or register can honestly report.

A value outside its parameter's range is a typo, a wrong unit, a sensor's error code (99999)
or a hostile file, never a reading: the pipeline rejects it with the reason and keeps the raw
value in ``rejects``. The ranges are wide on purpose (dust storms, raw sewage at an outfall,
sea water at an estuary): they catch the impossible, not the unusual. Units are the canonical
units of `envwatch.store.PARAMETERS` (air µg/m³, CO mg/m³; water mg/L unless stated).
docs/plausible-ranges.md is the table for staff; a test keeps the two in step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Range:
    """Inclusive bounds in the parameter's canonical unit, and why."""

    lo: float
    hi: float
    reason: str


_METAL = "above any wastewater; a unit slip (µg/L written as mg/L) or a typo"

RANGES: dict[str, Range] = {
    # Air, hourly and daily means (HJ 633 tops its scale at PM2.5 500, PM10 600, SO2 2620,
    # NO2 3840, CO 150 mg/m³, O3 1200 µg/m³; the ranges leave room above).
    "pm25": Range(
        0, 3000, "well above the worst haze and dust hours published (around 1,000 µg/m³)"
    ),
    "pm10": Range(0, 10000, "above the top of an analyser's range in a dust storm"),
    "so2": Range(0, 10000, "far above the highest hourly SO2 national stations publish"),
    "no2": Range(0, 4000, "above the top of the HJ 633 scale (3,840 µg/m³ hourly)"),
    "co": Range(0, 150, "above the top of the HJ 633 scale (150 mg/m³ hourly)"),
    "o3": Range(0, 2000, "above the top of the HJ 633 scale (1,200 µg/m³ hourly)"),
    "aqi_published": Range(0, 500, "the HJ 633 AQI scale ends at 500"),
    # Surface water (GB 3838) and outfall samples share the codes: wastewater sets the tops.
    "temp": Range(-5, 45, "no surface water in China is colder or warmer (°C)"),
    "ph": Range(0, 14, "the pH scale runs from 0 to 14"),
    "do": Range(0, 50, "above the supersaturation of an algal bloom (published up to ~30)"),
    "codmn": Range(0, 1000, "above raw sewage"),
    "cod": Range(0, 50000, "above the strongest industrial wastewater"),
    "bod5": Range(0, 20000, "above the strongest industrial wastewater"),
    "nh3n": Range(0, 10000, "above the strongest industrial wastewater"),
    "tp": Range(0, 1000, "above the strongest industrial wastewater"),
    "tn": Range(0, 10000, "above the strongest industrial wastewater"),
    "cu": Range(0, 1000, _METAL),
    "zn": Range(0, 1000, _METAL),
    "f": Range(0, 1000, _METAL),
    "se": Range(0, 100, _METAL),
    "as": Range(0, 100, _METAL),
    "hg": Range(0, 10, _METAL),
    "cd": Range(0, 100, _METAL),
    "cr6": Range(0, 1000, _METAL),
    "pb": Range(0, 100, _METAL),
    "cn": Range(0, 1000, _METAL),
    "phenol": Range(0, 10000, "above the strongest industrial wastewater"),
    "oil": Range(0, 100000, "above an oil slick sampled neat"),
    "las": Range(0, 10000, "above the strongest industrial wastewater"),
    "s2": Range(0, 10000, "above the strongest industrial wastewater"),
    "fcoli": Range(0, 1e11, "above raw sewage (count/L)"),
    "cond": Range(0, 100000, "above twice the conductivity of sea water (µS/cm)"),
    "turb": Range(0, 100000, "above mud (NTU)"),
    "chla": Range(0, 10, "above the densest algal bloom (10 mg/L = 10,000 µg/L)"),
    "algae": Range(0, 1e12, "above the densest algal bloom (cells/L)"),
    "class_published": Range(1, 6, "GB 3838 classes run from 1 (Ⅰ) to 6 (劣Ⅴ)"),
    # Outfall inspections.
    "rain": Range(0, 1, "1 (雨天) or 0 (晴天)"),
    "discharging": Range(0, 1, "1 (排水) or 0 (不排水)"),
    "flow": Range(0, 100000, "above the flow of a large river outfall (m³/h)"),
}

# Indicators (zero-waste) have no code of their own here: their configured unit decides.
PERCENT = Range(0, 100, "a share is between 0 % and 100 %")
AMOUNT = Range(0, math.inf, "an amount (tonnes, counts, money) is never negative")


def range_for(parameter: str, unit: str | None = None) -> Range | None:
    """The range of `parameter`, or of an indicator by its `unit` (``%`` or an amount)."""
    if parameter in RANGES:
        return RANGES[parameter]
    if unit is None:
        return None
    return PERCENT if unit.strip() in ("%", "％") else AMOUNT


def outside(parameters: pd.Series, values: np.ndarray, units: pd.Series) -> np.ndarray:
    """Boolean mask of `values` outside their parameter's range (NaN is never outside).

    `parameters` and `units` are aligned with `values`; indicator parameters (not in `RANGES`)
    are judged by their unit.
    """
    codes, names = pd.factorize(parameters, use_na_sentinel=False)
    known = [RANGES.get(str(n)) for n in names]
    lo = np.array([r.lo if r else np.nan for r in known], dtype="float64")[codes]
    hi = np.array([r.hi if r else np.nan for r in known], dtype="float64")[codes]
    other = np.isnan(lo)
    if other.any():
        shares = pd.Series(units.to_numpy()[other]).astype(str).str.strip()
        pct = shares.isin(["%", "％"]).to_numpy()
        lo[other] = 0.0
        hi[other] = np.where(pct, PERCENT.hi, AMOUNT.hi)
    with np.errstate(invalid="ignore"):
        return (values < lo) | (values > hi) | np.isinf(values)


def describe(parameter: str, unit: str | None) -> str:
    """The range as staff read it: ``0-14``, ``0-3000 µg/m³``, ``0 or more``."""
    r = range_for(parameter, unit)
    if r is None:
        return "any value"
    u = f" {unit}" if unit and unit != "1" else ""
    if math.isinf(r.hi):
        return f"{r.lo:g} or more{u}"
    return f"{r.lo:g}-{r.hi:g}{u}"
