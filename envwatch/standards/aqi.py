"""China's Air Quality Index (AQI), hourly and daily, under the 2012 and the 2026 rule sets.

Rule sets (picked by the local date of the data, see `ruleset_for`):

- ``"2012"``: data dated before 2026-03-01 (GB 3095-2012, HJ 633-2012, HJ 663-2013);
- ``"2026"``: data dated 2026-03-01 and later (GB 3095-2026, HJ 633-2026, HJ 663-2026).

Units: µg/m³ for PM2.5, PM10, SO2, NO2 and O3; mg/m³ for CO. Missing values are NaN.
Negative concentrations are not physical and are treated as missing.

Times: CNEMC labels an hourly value with the end of its hour in China Standard Time (UTC+8);
the value labelled 16:00 covers 15:00-16:00. A natural day D is the 24 values labelled D 01:00
... D 24:00 (= D+1 00:00). Pass the natural day, not the label, to `ruleset_for`.

Rounding, in the order the standards apply it:

1. The concentration is rounded to an integer (µg/m³) or to one decimal (CO, mg/m³), **round
   half to even** (GB/T 8170 修约, "四舍六入五成双"). Evidence: CNEMC's published 24-h means in
   the 2019 samples round every one of the 3,938 exact halves of PM2.5, PM10, SO2 and NO2
   to the even neighbour (half-up would get half of them wrong). The guard against float noise
   rounds to 6 decimals of the unit first, so 0.35 mg/m³ stored as 0.34999999999999998 is
   still a half.
2. Each sub-index (IAQI) is rounded **up** to an integer. It is computed in exact integer
   arithmetic on the rounded concentration, so 50.0000001 from float noise cannot occur.

Everything is vectorised with numpy (`np.searchsorted` over the breakpoint tables); the text
columns are `pandas.Categorical`, which compare equal to plain strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from functools import reduce
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "BREAKPOINTS",
    "CATEGORIES",
    "CATEGORY_COLOURS",
    "CATEGORY_LEVELS",
    "DAILY_PRIMARY_CODES",
    "HOURLY_PRIMARY_CODES",
    "IAQI_LEVELS",
    "POLLUTANTS",
    "RULESETS",
    "RULESET_2026_START",
    "category_of",
    "daily_aqi",
    "hourly_aqi",
    "iaqi",
    "round_half_even",
    "ruleset_for",
]

RULESET_2026_START = date(2026, 3, 1)
"""First local date whose data is computed under the 2026 rule set."""

RULESETS = ("2012", "2026")

POLLUTANTS = ("pm25", "pm10", "so2", "no2", "co", "o3")
"""Column codes of the six pollutants (µg/m³; CO in mg/m³)."""

HOURLY_PRIMARY_CODES = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")
"""Primary-pollutant codes of the hourly AQI, in the order ties are listed."""

DAILY_PRIMARY_CODES = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3_8h", "O3_1h")
"""Primary-pollutant codes of the daily AQI, in the order ties are listed."""

IAQI_LEVELS = (0, 50, 100, 150, 200, 300, 400, 500)
"""IAQI values at the breakpoints of HJ 633 Table 1."""

_BP_2012: dict[str, tuple[float, ...]] = {
    "so2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "so2_1h": (0, 150, 500, 650, 800),
    "no2_24h": (0, 40, 80, 180, 280, 565, 750, 940),
    "no2_1h": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "pm10_24h": (0, 50, 150, 250, 350, 420, 500, 600),
    "co_24h": (0, 2, 4, 14, 24, 36, 48, 60),
    "co_1h": (0, 5, 10, 35, 60, 90, 120, 150),
    "o3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "o3_8h": (0, 100, 160, 215, 265, 800),
    "pm25_24h": (0, 35, 75, 115, 150, 250, 350, 500),
}

BREAKPOINTS: Mapping[str, Mapping[str, tuple[float, ...]]] = {
    "2012": _BP_2012,
    # HJ 633-2026 keeps Table 1 except the PM breakpoints at IAQI 100.
    "2026": {
        **_BP_2012,
        "pm10_24h": (0, 50, 120, 250, 350, 420, 500, 600),
        "pm25_24h": (0, 35, 60, 115, 150, 250, 350, 500),
    },
}
"""Concentration breakpoints by rule set and table (`<pollutant>_<averaging>`), at `IAQI_LEVELS`."""

CATEGORIES = ("优", "良", "轻度污染", "中度污染", "重度污染", "严重污染")
CATEGORY_LEVELS = ("一级", "二级", "三级", "四级", "五级", "六级")
CATEGORY_COLOURS = ("#00E400", "#FFFF00", "#FF7E00", "#FF0000", "#99004C", "#7E0023")
"""HJ 633 Table A.1 (unchanged in 2026): category, level and colour of each AQI class."""
_CATEGORY_UPPER = np.array([50, 100, 150, 200, 300], dtype=np.int64)

_DECIMALS = {"co": 1}
"""Decimals the concentration is rounded to before the IAQI; 0 for the µg/m³ pollutants."""

_HOURLY_TABLE = {
    # CNEMC's real-time AQI puts the 1-h PM values on the 24-h tables.
    "pm25": "pm25_24h",
    "pm10": "pm10_24h",
    "so2": "so2_1h",
    "no2": "no2_1h",
    "co": "co_1h",
    "o3": "o3_1h",
}

_DAILY_TABLE = {
    "pm25": "pm25_24h",
    "pm10": "pm10_24h",
    "so2": "so2_24h",
    "no2": "no2_24h",
    "co": "co_24h",
    "o3_8h_max": "o3_8h",
    "o3_1h_max": "o3_1h",
}

_IntArray = npt.NDArray[np.int64]
_BoolArray = npt.NDArray[np.bool_]
_FloatArray = npt.NDArray[np.float64]


def _decimals(table: str) -> int:
    return _DECIMALS.get(table.split("_")[0], 0)


def _scaled_tables() -> dict[str, dict[str, _IntArray]]:
    out: dict[str, dict[str, _IntArray]] = {}
    for rs, tables in BREAKPOINTS.items():
        out[rs] = {}
        for key, bps in tables.items():
            scale = 10 ** _decimals(key)
            out[rs][key] = np.rint(np.asarray(bps, dtype=np.float64) * scale).astype(np.int64)
    return out


_SCALED = _scaled_tables()
_LEVELS = np.asarray(IAQI_LEVELS, dtype=np.int64)
_MISSING = -1
_ABOVE_TOP = 500


def _iaqi_exact(scaled: _IntArray, bp: _IntArray) -> _IntArray:
    """IAQI of rounded concentrations inside a table (0 <= scaled <= bp[-1]), in integers.

    `scaled` and `bp` are in integer units of the rounded concentration (CO: 0.1 mg/m³).
    With BP_lo < C <= BP_hi, IAQI = IAQI_lo + ceil((IAQI_hi - IAQI_lo) * (C - BP_lo) /
    (BP_hi - BP_lo)); integer ceiling division is exact, so no float noise can turn 50 into 51.
    """
    lv = _LEVELS[: len(bp)]
    idx = np.searchsorted(bp, scaled, side="left").clip(1, len(bp) - 1)
    lo = bp[idx - 1]
    il = lv[idx - 1]
    num = (lv[idx] - il) * (scaled - lo)
    return il - (-num // (bp[idx] - lo))


def _lookup_tables() -> dict[str, dict[str, npt.NDArray[np.int16]]]:
    """The IAQI of every rounded concentration of every table, precomputed.

    Entry 0 is 'missing' (-1), entry k + 1 the IAQI of the rounded concentration k, the last
    entry 'above the top of the table' (500). The tables are small (at most 3,842 entries) and
    turn the per-value work into one gather.
    """
    out: dict[str, dict[str, npt.NDArray[np.int16]]] = {}
    for rs, tables in _SCALED.items():
        out[rs] = {}
        for key, bp in tables.items():
            inside = _iaqi_exact(np.arange(bp[-1] + 1, dtype=np.int64), bp)
            out[rs][key] = np.concatenate([[_MISSING], inside, [_ABOVE_TOP]]).astype(np.int16)
    return out


_LUT = _lookup_tables()


def round_half_even(values: npt.ArrayLike, decimals: int = 0) -> _FloatArray:
    """Round half to even (GB/T 8170) to `decimals`, after a guard against float noise.

    The guard first rounds to 6 decimals beyond the target, so 70.49999999999999 from a float
    sum is treated as the half it stands for. NaN stays NaN.
    """
    x = np.asarray(values, dtype=np.float64) * (10.0**decimals)
    return np.rint(np.round(x, 6)) / (10.0**decimals)


def _lut_index(values: npt.ArrayLike, table: str) -> npt.NDArray[np.int32]:
    """Index into the table's lookup table: 0 missing, k + 1 rounded value k, top + 2 above."""
    x = np.asarray(values, dtype=np.float64)
    dec = _decimals(table)
    if dec:
        x = x * (10.0**dec)
    s = np.rint(np.round(x, 6))  # round half to even, float noise guarded
    top = _SCALED["2012"][table][-1]
    # NaN and negative values (not physical) are missing; anything above the top is one bin.
    np.fmax(s, -1.0, out=s)  # fmax maps NaN to -1
    np.minimum(s, float(top + 1), out=s)
    s += 1.0
    return s.astype(np.int32)


def _iaqi_rules(
    values: npt.ArrayLike, table: str, is2026: _BoolArray
) -> tuple[npt.NDArray[np.int16], _BoolArray]:
    """IAQI (-1 = missing) and the 'above the top of the table' mask, with a rule set per row."""
    idx = _lut_index(values, table)
    lut12, lut26 = _LUT["2012"][table], _LUT["2026"][table]
    above = idx == len(lut12) - 1
    if np.array_equal(lut12, lut26) or not is2026.any():
        return lut12[idx], above
    if is2026.all():
        return lut26[idx], above
    return np.where(is2026, lut26[idx], lut12[idx]), above


def iaqi(values: npt.ArrayLike, table: str, rules: str | npt.ArrayLike = "2012") -> pd.Series:
    """Sub-index (IAQI) of concentrations on one breakpoint table, e.g. ``"pm25_24h"``.

    `table` is a key of ``BREAKPOINTS[rules]``. Above the top of the table the sub-index is 500
    (the SO2 1-h and O3 8-h special cases are applied by `hourly_aqi` and `daily_aqi`, which
    know the other values they need). Returns a nullable Int64 Series, <NA> where missing.
    """
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if table not in _SCALED["2012"]:
        raise ValueError(f"unknown table {table!r}; expected one of {sorted(_SCALED['2012'])}")
    v, _ = _iaqi_rules(arr, table, _is2026(rules, len(arr)))
    return pd.Series(_to_int64(v))


def _to_day(dates: Any) -> npt.NDArray[np.datetime64]:
    if isinstance(dates, pd.DatetimeIndex | pd.Series):
        idx = pd.DatetimeIndex(dates)
    else:
        arr = np.asarray(dates)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.dtype.kind == "M":
            return arr.astype("datetime64[D]")
        idx = pd.DatetimeIndex(pd.to_datetime(list(arr)))
    if idx.tz is not None:
        idx = idx.tz_localize(None)  # keep the local wall-clock date
    if idx.hasnans:
        raise ValueError("ruleset_for: dates contain missing values (NaT)")
    return np.asarray(idx.values).astype("datetime64[D]")


def ruleset_for(dates: Any) -> npt.NDArray[np.str_]:
    """Rule set in force for each local date: ``'2012'`` before 2026-03-01, ``'2026'`` from then on.

    `dates` is array-like of `date`, `datetime`, `Timestamp`, ISO strings or `datetime64`
    (a scalar is accepted too); only the date part is used. For an hour-ending label pass the
    natural day it belongs to: the hour labelled 2026-03-01 00:00 is 24:00 of 2026-02-28 and
    falls under ``'2012'`` (see `envwatch.standards.air_stats.natural_day`).
    """
    d = _to_day(dates)
    start = np.datetime64(RULESET_2026_START.isoformat(), "D")
    return np.where(d >= start, "2026", "2012")


def _is2026(rules: str | npt.ArrayLike, n: int) -> _BoolArray:
    if isinstance(rules, str):
        if rules not in RULESETS:
            raise ValueError(f"unknown rule set {rules!r}; expected '2012' or '2026'")
        return np.full(n, rules == "2026")
    r = np.asarray(rules).astype(str).reshape(-1)
    if len(r) != n:
        raise ValueError(f"rules has {len(r)} values for {n} rows")
    is2026 = r == "2026"
    bad = ~(is2026 | (r == "2012"))
    if bad.any():
        raise ValueError(f"unknown rule set(s) {sorted(set(r[bad]))}; expected '2012' or '2026'")
    return is2026


def _to_int64(v: npt.NDArray[np.integer[Any]]) -> pd.arrays.IntegerArray:
    """Nullable Int64 from sub-indices coded -1 for missing."""
    missing = v < 0
    data = v.astype(np.int64)
    data[missing] = 0
    return pd.arrays.IntegerArray(data, missing)


def _mask_labels(codes: Sequence[str]) -> list[str]:
    """Label of every bit mask over `codes`: the set bits' codes comma-joined, in order."""
    return [",".join(c for i, c in enumerate(codes) if m >> i & 1) for m in range(1 << len(codes))]


_HOURLY_MASK_DTYPE = pd.CategoricalDtype(_mask_labels(HOURLY_PRIMARY_CODES))
_DAILY_MASK_DTYPE = pd.CategoricalDtype(_mask_labels(DAILY_PRIMARY_CODES))
_CATEGORY_DTYPES = {
    "category": pd.CategoricalDtype(list(CATEGORIES), ordered=True),
    "level": pd.CategoricalDtype(list(CATEGORY_LEVELS), ordered=True),
    "colour": pd.CategoricalDtype(list(CATEGORY_COLOURS), ordered=True),
}
# Class of every AQI 0..500 (entry 0 is 'missing'); the AQI never exceeds 500.
_CATEGORY_LUT = np.concatenate(
    [[-1], np.searchsorted(_CATEGORY_UPPER, np.arange(501), side="left")]
).astype(np.int8)


def _category_columns(aqi: npt.NDArray[np.integer[Any]]) -> dict[str, pd.Categorical]:
    """category, level and colour of integer AQI values in 0..500 (-1 = missing)."""
    codes = _CATEGORY_LUT[aqi.astype(np.intp) + 1]
    return {
        name: pd.Categorical.from_codes(codes, dtype=dtype, validate=False)
        for name, dtype in _CATEGORY_DTYPES.items()
    }


def category_of(aqi: Any) -> pd.DataFrame:
    """Category, level and colour (HJ 633 Table A.1) of AQI values.

    AQI ≤ 50 优 一级 #00E400; 51-100 良 二级 #FFFF00; 101-150 轻度污染 三级 #FF7E00;
    151-200 中度污染 四级 #FF0000; 201-300 重度污染 五级 #99004C; > 300 严重污染 六级 #7E0023.
    Returns a DataFrame with ordered Categorical columns `category`, `level`, `colour` (NaN
    where the AQI is missing), on the index of `aqi` if it is a Series.
    """
    index = aqi.index if isinstance(aqi, pd.Series) else None
    values = pd.array(np.atleast_1d(aqi) if np.isscalar(aqi) else aqi, dtype="Float64")
    vals = values.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(vals)
    codes = np.searchsorted(_CATEGORY_UPPER, np.where(missing, 0, vals), side="left")
    codes = np.where(missing, -1, codes)
    return pd.DataFrame(
        {
            name: pd.Categorical.from_codes(codes, dtype=dtype)
            for name, dtype in _CATEGORY_DTYPES.items()
        },
        index=index,
    )


def _combine(
    subs: Sequence[npt.NDArray[np.int16]],
    labels: pd.CategoricalDtype,
    is2026: _BoolArray,
    na_rule_members: Sequence[bool] | None,
) -> dict[str, Any]:
    """AQI, category, primary and exceeding pollutants from the sub-indices (-1 = missing).

    `na_rule_members` marks the sub-indices whose absence triggers the 2026 NA rule; None
    means the NA rule is not applied.
    """
    n = len(is2026)
    aqi = reduce(np.maximum, subs, np.full(n, -1, dtype=np.int16))
    if na_rule_members is not None and is2026.any():
        members = [s for s, m in zip(subs, na_rule_members, strict=True) if m]
        any_missing = reduce(np.logical_or, [s < 0 for s in members], np.zeros(n, dtype=bool))
        aqi[is2026 & any_missing & (aqi <= 100)] = -1
    # Bit masks of the pollutants that set the AQI (ties included) and of those above 100.
    no_primary = aqi <= 50
    primary = np.zeros(n, dtype=np.uint8)
    exceeding = np.zeros(n, dtype=np.uint8)
    for bit, s in enumerate(subs):
        primary |= (s == aqi).view(np.uint8) << np.uint8(bit)
        exceeding |= (s > 100).view(np.uint8) << np.uint8(bit)
    primary[no_primary] = 0
    exceeding[is2026] = 0
    out: dict[str, Any] = {"aqi": _to_int64(aqi)}
    out.update(_category_columns(aqi))
    out["primary_pollutant"] = pd.Categorical.from_codes(primary, dtype=labels, validate=False)
    out["exceeding"] = pd.Categorical.from_codes(exceeding, dtype=labels, validate=False)
    return out


def _column(frame: pd.DataFrame, name: str) -> _FloatArray:
    if name in frame.columns:
        col = frame[name]
        if col.dtype == np.float64:
            return col.to_numpy()
        return pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.full(len(frame), np.nan)


def hourly_aqi(conc: pd.DataFrame, rules: str | npt.ArrayLike) -> pd.DataFrame:
    """Hourly (real-time) AQI as CNEMC publishes it, one row per station-hour.

    `conc` holds 1-h values in columns pm25, pm10, so2, no2, co, o3 (µg/m³, CO mg/m³; an absent
    column is all missing; NaN is missing). `rules` is ``'2012'``/``'2026'`` or one per row.
    PM2.5 and PM10 use the 24-h tables, SO2, NO2, CO and O3 their 1-h tables; O3 8-h is not part
    of the real-time AQI.

    Missing pollutants are skipped under both rule sets: AIR.md gives the real-time rule,
    "missing pollutants are skipped", as holding for both rule sets except the PM breakpoints,
    so the 2026 NA rule is applied to the daily AQI only (`daily_aqi`).

    Special case SO2 1-h > 800 µg/m³: 2012 has no 1-h sub-index and uses the 24-h mean's, read
    from an optional column ``so2_24h`` (without it SO2 is skipped for that hour); 2026 gives
    sub-index 200. Any other value above the top of its table gives 500.

    The AQI is always computed from the concentrations; a published AQI column is ignored.
    Returns, on the index of `conc`: iaqi_pm25 … iaqi_o3 (Int64), aqi (Int64, <NA> when no
    pollutant is available), category, level, colour, primary_pollutant (``'PM2.5'``,
    ``'PM10'``, ``'SO2'``, ``'NO2'``, ``'CO'``, ``'O3'``, comma-joined on ties in that order;
    ``''`` when AQI ≤ 50 or missing) and exceeding (2012: pollutants with IAQI > 100, same
    codes; 2026: always ``''``). Text columns are Categoricals.
    """
    n = len(conc)
    is2026 = _is2026(rules, n)
    subs: list[npt.NDArray[np.int16]] = []
    for p in POLLUTANTS:
        v, above = _iaqi_rules(_column(conc, p), _HOURLY_TABLE[p], is2026)
        if p == "so2" and above.any():
            fallback, _ = _iaqi_rules(_column(conc, "so2_24h"), "so2_24h", is2026)
            v = np.where(above, np.where(is2026, np.int16(200), fallback), v)
        subs.append(v)
    out: dict[str, Any] = {f"iaqi_{p}": _to_int64(v) for p, v in zip(POLLUTANTS, subs, strict=True)}
    out.update(_combine(subs, _HOURLY_MASK_DTYPE, is2026, na_rule_members=None))
    return pd.DataFrame(out, index=conc.index, copy=False)


DAILY_INPUTS = ("pm25", "pm10", "so2", "no2", "co", "o3_8h_max", "o3_1h_max")
"""Input columns of `daily_aqi`, in the order of `DAILY_PRIMARY_CODES`."""
_DAILY_IAQI_NAMES = ("pm25", "pm10", "so2", "no2", "co", "o3_8h", "o3_1h")


def daily_aqi(daily: pd.DataFrame, rules: str | npt.ArrayLike) -> pd.DataFrame:
    """Daily AQI from daily statistics, under the rule set of each row.

    `daily` holds pm25, pm10, so2, no2, co (24-h means of the natural day, µg/m³, CO mg/m³),
    o3_8h_max (MDA8) and o3_1h_max (daily maximum 1-h O3); NaN is missing. Values are rounded
    (half to even) before the IAQI; pass full-precision means.

    - 2012: the five 24-h means on the 24-h tables, O3 1-h max on the 1-h table and MDA8 on the
      8-h table. MDA8 > 800 µg/m³ has no 8-h sub-index (iaqi_o3_8h <NA>): O3 is reported by its
      1-h sub-index. Missing pollutants are skipped.
    - 2026: the five means and MDA8 only (iaqi_o3_1h is <NA>); MDA8 > 800 gives 300. When any of
      the six is missing and the AQI of the others is ≤ 100 the AQI is NA; above 100 it stands
      (a missing pollutant could only raise it).

    Returns, on the index of `daily`: iaqi_pm25, iaqi_pm10, iaqi_so2, iaqi_no2, iaqi_co,
    iaqi_o3_8h, iaqi_o3_1h (Int64), aqi (Int64), category, level, colour, primary_pollutant
    (codes ``PM2.5, PM10, SO2, NO2, CO, O3_8h, O3_1h``, comma-joined on ties in that order,
    ``''`` when AQI ≤ 50 or NA) and exceeding (2012 only: IAQI > 100).
    """
    n = len(daily)
    is2026 = _is2026(rules, n)
    subs: list[npt.NDArray[np.int16]] = []
    for col in DAILY_INPUTS:
        v, above = _iaqi_rules(_column(daily, col), _DAILY_TABLE[col], is2026)
        if col == "o3_8h_max":
            v = np.where(above, np.where(is2026, np.int16(300), np.int16(-1)), v)
        elif col == "o3_1h_max":
            v = np.where(is2026, np.int16(-1), v)
        subs.append(v)
    out: dict[str, Any] = {
        f"iaqi_{p}": _to_int64(v) for p, v in zip(_DAILY_IAQI_NAMES, subs, strict=True)
    }
    members = [True] * 6 + [False]  # O3 1-h max is not part of the 2026 daily AQI
    out.update(_combine(subs, _DAILY_MASK_DTYPE, is2026, na_rule_members=members))
    return pd.DataFrame(out, index=daily.index, copy=False)
