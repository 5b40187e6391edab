"""HJ 663 air-quality statistics: station days, period statistics, district values and ranking.

Units: µg/m³ for PM2.5, PM10, SO2, NO2 and O3; mg/m³ for CO. NaN is missing.

Time: hourly values carry CNEMC's hour-ending local label (China Standard Time, UTC+8, no
daylight saving) in a tz-naive ``time_local``: the value labelled 01:00 covers 00:00-01:00 and
24:00 is written as 00:00 of the next day. The natural day D is the 24 values labelled D 01:00
… D+1 00:00 (`natural_day`). The rule set of a day (``'2012'`` before 2026-03-01, ``'2026'``
from then on) follows its natural day.

Rules that AIR.md leaves open, as decided here:

- A station-day is ``valid`` when all the daily values its AQI needs are valid: the five 24-h
  means (≥ 20 hourly values each) and the MDA8, plus, under 2012, the O3 daily maximum 1-h.
  Only valid days count in the good-day ratio and the days by category.
- O3 daily maximum 1-h: the largest valid hourly value; valid with ≥ 20 hourly values, or with
  fewer when it exceeds the 1-h limit (200 µg/m³): a maximum over part of the day can only
  understate the day's, the same reasoning HJ 663 applies to the MDA8.
- "Exceeds the limit" compares the value rounded as the standard rounds it (half to even,
  integer µg/m³, CO one decimal): MDA8 160.4 does not exceed 160.
- Daily means and MDA8 are kept at full precision; the only rounding is where the standard
  rounds (the AQI input, limit comparisons).

All functions are vectorised (numpy, pandas groupby); nothing loops over rows in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from envwatch.standards.aqi import (
    CATEGORIES,
    daily_aqi,
    round_half_even,
    ruleset_for,
)

__all__ = [
    "CATEGORY_COLUMNS",
    "DEFAULT_DENOMINATORS",
    "FIGURE_CATEGORIES",
    "FIGURE_DECIMALS",
    "FIGURE_POLLUTANTS",
    "LIMITS_24H",
    "LIMITS_ANNUAL",
    "MIN_HOURS_24H",
    "MIN_O3_8H_VALUES",
    "daily_stats",
    "district_daily",
    "limit_phase",
    "natural_day",
    "percentile",
    "period_figures",
    "period_stats",
    "RANK_FIGURES",
    "rank_areas",
    "round_figures",
]

MEAN_POLLUTANTS = ("pm25", "pm10", "so2", "no2", "co")
"""Pollutants with a 24-h mean (µg/m³; CO mg/m³)."""

MIN_HOURS_24H = 20
"""HJ 663: a 24-h mean needs at least 20 hourly values of the natural day."""
MIN_HOURS_8H = 6
"""HJ 663: an O3 8-h value needs at least 6 of its 8 hourly values."""
MIN_O3_8H_VALUES = 14
"""HJ 663: the MDA8 needs 14 valid 8-h values among those labelled 08:00 … 24:00."""

LIMITS_24H: Mapping[str, Mapping[str, float]] = {
    # GB 3095 class 2, by phase: 2012; 2026 up to 2030-12-31; 2026 from 2031-01-01.
    "2012": {"pm25": 75, "pm10": 150, "so2": 150, "no2": 80, "co": 4, "o3_8h": 160, "o3_1h": 200},
    "2026": {"pm25": 60, "pm10": 120, "so2": 150, "no2": 80, "co": 4, "o3_8h": 160, "o3_1h": 200},
    "2031": {"pm25": 50, "pm10": 100, "so2": 50, "no2": 50, "co": 4, "o3_8h": 160, "o3_1h": 200},
}
"""Daily class-2 limits (O3: MDA8 and 1-h) of GB 3095, by limit phase (see `limit_phase`)."""

LIMITS_ANNUAL: Mapping[str, Mapping[str, float]] = {
    "2012": {"pm25": 35, "pm10": 70, "so2": 60, "no2": 40},
    "2026": {"pm25": 30, "pm10": 60, "so2": 60, "no2": 40},
    "2031": {"pm25": 25, "pm10": 50, "so2": 20, "no2": 30},
}
"""Annual class-2 limits of GB 3095, by limit phase."""

_DENOMINATORS_2012 = {"so2": 60.0, "no2": 40.0, "pm10": 70.0, "pm25": 35.0, "co": 4.0, "o3": 160.0}
DEFAULT_DENOMINATORS: Mapping[str, Mapping[str, float]] = {
    "2012": _DENOMINATORS_2012,
    # The 2026 denominators are not published yet; until they are, the 2012 ones keep the index
    # comparable across the change of rule set. Pass `denominators=` to override.
    "2026": _DENOMINATORS_2012,
}
"""Comprehensive-index denominators Si by rule set: annual limits of SO2, NO2, PM10, PM2.5
(applied to period means), CO (to the 95th percentile of daily means) and O3 (to the 90th
percentile of MDA8)."""

CATEGORY_COLUMNS = {
    "优": "days_excellent",
    "良": "days_good",
    "轻度污染": "days_lightly_polluted",
    "中度污染": "days_moderately_polluted",
    "重度污染": "days_heavily_polluted",
    "严重污染": "days_severely_polluted",
}
"""Output column of `period_stats` for the days of each AQI category."""

_PERCENTILES = (
    ("so2", "so2", 98),
    ("no2", "no2", 98),
    ("pm10", "pm10", 95),
    ("pm25", "pm25", 95),
    ("co", "co", 95),
    ("o3_8h", "o3_8h_max", 90),
)
"""(name, daily column, percentile) of HJ 663's annual percentile indicators."""

_PERIOD_POLLUTANTS = {
    "pm25": "pm25",
    "pm10": "pm10",
    "so2": "so2",
    "no2": "no2",
    "co": "co",
    "o3_8h": "o3_8h_max",
}
"""Name in `period_stats` output -> daily column, for the pollutants with validity rules."""

_EXCEEDANCE = {**_PERIOD_POLLUTANTS, "o3_1h": "o3_1h_max"}

_LIMIT_PHASE_2031 = np.datetime64("2031-01-01", "D")
_HOUR_NS = 3_600_000_000_000
_DAY_NS = 24 * _HOUR_NS


# --------------------------------------------------------------------------- helpers


def natural_day(time_local: Any) -> npt.NDArray[np.datetime64]:
    """The natural day (datetime64[D]) of hour-ending local labels: the label minus one hour.

    2019-01-02 00:00 (24:00 of 1 January) belongs to 2019-01-01; 2019-01-01 01:00 to 1 January.
    """
    t = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(np.asarray(time_local))))
    return np.asarray((t - pd.Timedelta(hours=1)).values).astype("datetime64[D]")


def limit_phase(dates: Any) -> npt.NDArray[np.str_]:
    """GB 3095 limit phase of each local date: ``'2012'``, ``'2026'`` (to 2030-12-31), ``'2031'``."""
    rules = ruleset_for(dates)
    days = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(np.asarray(dates)))).values
    return np.where(days.astype("datetime64[D]") >= _LIMIT_PHASE_2031, "2031", rules)


def percentile(values: npt.ArrayLike, p: float) -> float:
    """The p-th percentile by HJ 663 Appendix A.6; NaN values are ignored, NaN if none is left.

    Sort the n values ascending; k = 1 + (n − 1)·p/100; s = floor(k); the result is
    X(s) + (X(s+1) − X(s))·(k − s) with 1-based X. This is numpy's default ``linear`` method.
    Example from the standard's method: {2, 3, 4, 4, 5, 8} at p = 90 gives 6.5.
    """
    if not 0 <= p <= 100:
        raise ValueError(f"percentile p must be within 0..100, got {p}")
    x = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return float("nan")
    k = 1 + (n - 1) * p / 100
    s = int(np.floor(k))
    if s >= n:
        return float(x[n - 1])
    return float(x[s - 1] + (x[s] - x[s - 1]) * (k - s))


def _float_column(frame: pd.DataFrame, name: str) -> npt.NDArray[np.float64]:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _day_valid(frame: pd.DataFrame, rules: npt.NDArray[np.str_]) -> npt.NDArray[np.bool_]:
    """All daily values the day's AQI needs are present (see the module docstring)."""
    ok = np.ones(len(frame), dtype=bool)
    for col in (*MEAN_POLLUTANTS, "o3_8h_max"):
        ok &= ~np.isnan(_float_column(frame, col))
    ok &= (rules == "2026") | ~np.isnan(_float_column(frame, "o3_1h_max"))
    return ok


def _with_aqi(frame: pd.DataFrame, dates: Any) -> pd.DataFrame:
    """Append rules, the daily AQI columns and `valid` to a frame of daily values."""
    rules = ruleset_for(dates) if len(frame) else np.array([], dtype="<U4")
    frame["rules"] = rules
    aqi = daily_aqi(frame, rules)
    out = pd.concat([frame, aqi], axis=1)
    out["valid"] = _day_valid(frame, rules)
    return out


# --------------------------------------------------------------------------- daily


def daily_stats(hourly: pd.DataFrame) -> pd.DataFrame:
    """HJ 663 daily values and daily AQI of each station and natural day.

    `hourly` has columns site_id, time_local (hour-ending local label, tz-naive; a tz-aware
    column is converted to China Standard Time), pm25, pm10, so2, no2, co, o3 (1-h values,
    µg/m³, CO mg/m³; an absent pollutant column is all missing). One row per station-hour;
    duplicates raise ValueError.

    Returns one row per (site_id, date), sorted, with:

    - pm25, pm10, so2, no2, co: 24-h means, NaN with fewer than 20 hourly values;
      n_pm25 … n_co, n_o3: hourly values present;
    - o3_1h_max: the day's largest 1-h O3 (≥ 20 hours, or > 200 µg/m³);
    - o3_8h_max: MDA8, the largest 8-h mean (≥ 6 of 8 hours) labelled 08:00 … 24:00, valid with
      ≥ 14 such 8-h values, or with fewer when it exceeds 160 µg/m³; n_o3_8h: valid 8-h values;
    - rules, the `daily_aqi` columns (iaqi_*, aqi, category, level, colour, primary_pollutant,
      exceeding) and valid (the day's AQI rests on valid values of every pollutant it needs).

    `date` is the natural day as a datetime64 at midnight.
    """
    if len(hourly) == 0:
        return _empty_daily()
    layout = _station_day_layout(hourly)
    n_days = len(layout.keys)

    def grid(col: str) -> npt.NDArray[np.float64]:
        g = np.full(n_days * 24, np.nan)
        g[layout.cell] = _float_column(hourly, col)
        return g.reshape(n_days, 24)

    out: dict[str, Any] = {"site_id": layout.site_ids, "date": layout.dates}
    counts: dict[str, Any] = {}
    for p in MEAN_POLLUTANTS:
        g = grid(p)
        present = ~np.isnan(g)
        n = present.sum(axis=1)
        total = np.where(present, g, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[p] = np.where(n >= MIN_HOURS_24H, total / n, np.nan)
        counts[f"n_{p}"] = n
    out.update(_o3_daily(grid("o3")))
    out.update(counts)
    frame = pd.DataFrame(out)
    frame = frame[[c for c in _DAILY_ORDER if c in frame.columns]]
    return _with_aqi(frame, frame["date"].to_numpy())


_DAILY_ORDER = (
    "site_id",
    "date",
    *MEAN_POLLUTANTS,
    "o3_1h_max",
    "o3_8h_max",
    *(f"n_{p}" for p in MEAN_POLLUTANTS),
    "n_o3",
    "n_o3_8h",
)


@dataclass(frozen=True)
class _Layout:
    """Where each station-hour goes in a (station-day × 24 hour slots) grid."""

    site_ids: Any  # per station-day
    dates: npt.NDArray[np.datetime64]  # per station-day
    keys: npt.NDArray[np.int64]  # sorted station-day keys
    cell: npt.NDArray[np.int64]  # per input row: station-day index × 24 + hour slot


def _station_day_layout(hourly: pd.DataFrame) -> _Layout:
    """Validate the hour labels and lay station-hours out by station-day and hour slot."""
    times = pd.DatetimeIndex(hourly["time_local"])
    if times.tz is not None:
        times = times.tz_convert("Asia/Shanghai").tz_localize(None)
    if times.hasnans:
        raise ValueError("daily_stats: time_local has missing values")
    ns = np.asarray(times.as_unit("ns").asi8)
    off_hour = ns % _HOUR_NS != 0
    if off_hour.any():
        raise ValueError(
            f"daily_stats: {int(off_hour.sum())} time_local values are not on the hour, "
            f"e.g. {times[np.flatnonzero(off_hour)[0]]}; labels must be hour-ending hours"
        )
    start = ns - _HOUR_NS  # start of the hour the value covers
    day = start // _DAY_NS
    slot = (start // _HOUR_NS) % 24  # 0 for the value labelled 01:00, 23 for 24:00

    site_codes, site_uniques = pd.factorize(hourly["site_id"])
    day_min = int(day.min())
    span = int(day.max()) - day_min + 1
    key = site_codes.astype(np.int64) * span + (day - day_min)
    key_id, keys = pd.factorize(key)
    order = np.argsort(keys, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    key_id = rank[key_id]
    keys = np.asarray(keys)[order]

    cell = key_id.astype(np.int64) * 24 + slot
    per_cell = np.bincount(cell, minlength=len(keys) * 24)
    if (per_cell > 1).any():
        dup = int(np.flatnonzero(per_cell > 1)[0])
        raise ValueError(
            f"daily_stats: {int((per_cell > 1).sum())} station-hours appear more than once, "
            f"e.g. site {site_uniques[keys[dup // 24] // span]!r} at hour slot {dup % 24 + 1}"
        )
    return _Layout(
        site_ids=site_uniques.take(keys // span),
        dates=(np.int64(day_min) + keys % span).astype("datetime64[D]"),
        keys=keys,
        cell=cell,
    )


def _o3_daily(o3: npt.NDArray[np.float64]) -> dict[str, Any]:
    """O3 daily maximum 1-h and MDA8 (with their counts) from a (days × 24) grid of 1-h O3."""
    present = ~np.isnan(o3)
    n_o3 = present.sum(axis=1)
    filled = np.where(present, o3, 0.0)
    o3_max = np.where(present, o3, -np.inf).max(axis=1)
    o3_max_ok = (n_o3 >= MIN_HOURS_24H) | (round_half_even(o3_max) > LIMITS_24H["2012"]["o3_1h"])

    # 8-h values labelled 08:00 … 24:00: windows over slots j … j+7 for j = 0 … 16; none of
    # them reaches into the previous natural day.
    win_n = np.lib.stride_tricks.sliding_window_view(present, 8, axis=1).sum(axis=2)
    win_sum = np.lib.stride_tricks.sliding_window_view(filled, 8, axis=1).sum(axis=2)
    win_ok = win_n >= MIN_HOURS_8H
    with np.errstate(invalid="ignore", divide="ignore"):
        win_mean = np.where(win_ok, win_sum / win_n, -np.inf)
    n_8h = win_ok.sum(axis=1)
    mda8 = win_mean.max(axis=1)
    mda8_ok = (n_8h >= MIN_O3_8H_VALUES) | (round_half_even(mda8) > LIMITS_24H["2012"]["o3_8h"])
    return {
        "o3_1h_max": np.where(np.isfinite(o3_max) & o3_max_ok, o3_max, np.nan),
        "o3_8h_max": np.where(np.isfinite(mda8) & mda8_ok, mda8, np.nan),
        "n_o3": n_o3,
        "n_o3_8h": n_8h,
    }


def _empty_daily() -> pd.DataFrame:
    cols: dict[str, Any] = {"site_id": pd.Series([], dtype=object)}
    cols["date"] = pd.Series([], dtype="datetime64[s]")
    for c in (*MEAN_POLLUTANTS, "o3_1h_max", "o3_8h_max"):
        cols[c] = pd.Series([], dtype=np.float64)
    for c in (*(f"n_{p}" for p in MEAN_POLLUTANTS), "n_o3", "n_o3_8h"):
        cols[c] = pd.Series([], dtype=np.int64)
    frame = pd.DataFrame(cols)
    return _with_aqi(frame, frame["date"].to_numpy())


# --------------------------------------------------------------------------- periods


def _month_requirements(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Daily values each calendar month of [start, end] needs (HJ 663: 27, 25 in February).

    A month only partly inside the period may miss as many days as a full month may (4 of 31,
    3 of 30, 3 of 28, 4 of 29), so a full month needs exactly 27 (25).
    """
    months = pd.period_range(start.to_period("M"), end.to_period("M"), freq="M")
    first = np.asarray(months.start_time.values).astype("datetime64[D]")
    last = np.asarray(months.end_time.values).astype("datetime64[D]")
    lo = np.maximum(first, np.datetime64(start.date(), "D"))
    hi = np.minimum(last, np.datetime64(end.date(), "D"))
    covered = (hi - lo).astype(np.int64) + 1
    in_month = np.asarray(months.days_in_month)
    full_need = np.where(np.asarray(months.month) == 2, 25, 27)
    need = np.maximum(0, np.asarray(covered) - (in_month - full_need))
    return pd.DataFrame({"period": months.astype(str), "need": need})


def _full_years(start: pd.Timestamp, end: pd.Timestamp) -> list[int]:
    first = start.year if (start.month, start.day) == (1, 1) else start.year + 1
    last = end.year if (end.month, end.day) == (12, 31) else end.year - 1
    return list(range(first, last + 1))


def _validity(
    d: pd.DataFrame, keys: list[str], groups: pd.Index, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """`<pollutant>_valid` and `validity_note` per group, per HJ 663's 324 / 27 / 25 rules.

    Every calendar month of the period needs its count (`_month_requirements`); every full
    calendar year inside the period needs 324 daily values.
    """
    out = pd.DataFrame(index=groups)
    dates = pd.DatetimeIndex(d["date"])
    req = _month_requirements(start, end)
    month_ids = pd.PeriodIndex(req["period"], freq="M")
    checks = [
        (
            pd.Series(dates.year * 100 + dates.month, index=d.index),
            np.asarray(month_ids.year * 100 + month_ids.month),
            req["period"].to_numpy(dtype=object),
            req["need"].to_numpy(),
        )
    ]
    years = np.asarray(_full_years(start, end), dtype=np.int64)
    if len(years):
        checks.append(
            (
                pd.Series(dates.year, index=d.index),
                years,
                years.astype(str).astype(object),
                np.full(len(years), 324),
            )
        )
    grouper = [d[k] for k in keys]
    notes: list[pd.DataFrame] = []
    for name, col in _PERIOD_POLLUTANTS.items():
        present = d[col].notna() if col in d.columns else pd.Series(False, index=d.index)
        ok = np.ones(len(groups), dtype=bool)
        for period_of_row, period_ids, labels, need in checks:
            if len(d):
                table = present.groupby([*grouper, period_of_row]).sum().unstack(fill_value=0)
                table = table.reindex(index=groups, columns=period_ids, fill_value=0)
                n = table.to_numpy(dtype=np.int64)
            else:
                n = np.zeros((len(groups), len(period_ids)), dtype=np.int64)
            short = n < need[None, :]
            ok &= ~short.any(axis=1)
            row, col_i = np.nonzero(short)
            text = (
                pd.Series(labels[col_i], dtype=object)
                + ": "
                + pd.Series(n[row, col_i]).astype(str)
                + " of "
                + pd.Series(need[col_i]).astype(str)
                + " days"
            )
            notes.append(pd.DataFrame({"row": row, "note": f"{name} " + text}))
        out[f"{name}_valid"] = ok
    note = pd.concat(notes, ignore_index=True)
    joined = note.groupby("row", sort=True)["note"].agg("; ".join)
    out["validity_note"] = joined.reindex(np.arange(len(groups)), fill_value="").to_numpy(
        dtype=object
    )
    return out


def period_stats(
    daily: pd.DataFrame,
    start: date | str | pd.Timestamp,
    end: date | str | pd.Timestamp,
    *,
    by: str | Sequence[str] = "site_id",
    denominators: Mapping[str, Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """HJ 663 statistics of daily values over the dates start … end (both included).

    `daily` is `daily_stats` output (or `district_daily` with ``by="district"``); `by` names
    the group column(s). A month is start=first, end=last day; a year 1 Jan … 31 Dec; year to
    date 1 Jan … today. Returns one row per group present in the period with:

    - n_days (rows), n_valid_days (valid daily AQI), n_<p> (valid daily values of p, for
      pm25, pm10, so2, no2, co and o3_8h = MDA8);
    - <p>_mean for those six; percentiles by HJ 663 A.6 (`percentile`): so2_p98, no2_p98,
      pm10_p95, pm25_p95, co_p95, o3_8h_p90;
    - <p>_valid (HJ 663: every calendar month of the period needs 27 daily values, 25 in
      February, a partly covered month as many as it may miss; every full calendar year 324)
      and validity_note saying which month or year fell short ('' when all are valid). Values
      are given even when not valid: the flag says whether they may be reported;
    - good_days (valid days with AQI ≤ 100), good_day_ratio (% of valid days), polluted_days
      (AQI > 100) and days by category (`CATEGORY_COLUMNS`), over valid days;
    - exceed_days_<p> and exceed_multiple_<p> (mean of (C − S)/S over those days) against the
      daily limit of each day's limit phase (`LIMITS_24H`; C rounded as the standard rounds),
      for pm25, pm10, so2, no2, co, o3_8h and o3_1h;
    - days_primary_<p> (valid days whose primary pollutants include p; o3 covers O3_8h and
      O3_1h) and polluted_days_pm25 / polluted_days_o3 (days with AQI > 100 led by PM2.5 /
      by O3: the co-control picture);
    - ci_so2 … ci_o3 and comprehensive_index = Σ Ci/Si (SO2, NO2, PM10, PM2.5 means; CO p95;
      O3 MDA8 p90), with the Si of the rule set in force at `end` (`DEFAULT_DENOMINATORS`,
      updated by `denominators`, e.g. ``{"2026": {"pm25": 30}}``); comprehensive_index_valid
      when all six inputs are valid;
    - period_start, period_end, rules (rule set at `end`).
    """
    start_ts = pd.Timestamp(start).normalize()
    end_ts = pd.Timestamp(end).normalize()
    if end_ts < start_ts:
        raise ValueError(f"period_stats: end {end_ts.date()} is before start {start_ts.date()}")
    keys = [by] if isinstance(by, str) else list(by)
    dates = pd.DatetimeIndex(daily["date"])
    d = daily.loc[(dates >= start_ts) & (dates <= end_ts)].copy()
    d["date"] = pd.DatetimeIndex(d["date"])
    rules_end = str(ruleset_for([end_ts])[0])

    g = d.groupby(keys, sort=True, observed=True)
    out = pd.DataFrame({"n_days": g.size()})
    groups = out.index
    valid = d["valid"].astype(bool)
    aqi = d["aqi"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    vg = d.loc[valid.to_numpy()].groupby(keys, sort=True, observed=True)
    out["n_valid_days"] = vg.size().reindex(groups, fill_value=0)

    cols = list(_PERIOD_POLLUTANTS.values())
    # a day with no valid value anywhere has None concentrations (object dtype); make them NaN
    for col in cols:
        if d[col].dtype == object:
            d[col] = pd.to_numeric(d[col], errors="coerce").astype("float64")
    g = d.groupby(keys, sort=True, observed=True)
    counts = g[cols].count()
    means = g[cols].mean()
    for name, col in _PERIOD_POLLUTANTS.items():
        out[f"n_{name}"] = counts[col]
    for name, col in _PERIOD_POLLUTANTS.items():
        out[f"{name}_mean"] = means[col]
    for name, col, p in _PERCENTILES:
        # pandas' linear interpolation is HJ 663 A.6 (`percentile`).
        out[f"{name}_p{p}"] = g[col].quantile(p / 100)
    out = out.join(_validity(d, keys, groups, start_ts, end_ts))

    flags = _day_flags(d, valid.to_numpy(), aqi)
    exceed, multiples = _exceedances(d)
    grouper = [d[k] for k in keys]
    sums = pd.concat([flags, exceed], axis=1).groupby(grouper, sort=True, observed=True).sum()
    out = out.join(sums.rename(columns={"good": "good_days", "polluted": "polluted_days"}))
    out = out.join(multiples.groupby(grouper, sort=True, observed=True).mean())
    with np.errstate(invalid="ignore", divide="ignore"):
        out["good_day_ratio"] = out["good_days"] / out["n_valid_days"].replace(0, np.nan) * 100
    out = _with_comprehensive_index(out, rules_end, denominators)
    out["period_start"] = start_ts
    out["period_end"] = end_ts
    out["rules"] = rules_end
    return out.reset_index()


def _day_flags(
    d: pd.DataFrame, valid: npt.NDArray[np.bool_], aqi: npt.NDArray[np.floating[Any]]
) -> pd.DataFrame:
    """Per day: good, polluted, its category (`CATEGORY_COLUMNS`) and the pollutants leading
    it (days_primary_<p>, polluted_days_pm25, polluted_days_o3); valid days only."""
    flags = pd.DataFrame(index=d.index)
    flags["good"] = valid & (aqi <= 100)
    flags["polluted"] = valid & (aqi > 100)
    category = pd.Categorical(d["category"], categories=CATEGORIES).codes
    for i, cat in enumerate(CATEGORIES):
        flags[CATEGORY_COLUMNS[cat]] = valid & (category == i)
    # Primary pollutants are few distinct labels: test each label once, then map the codes.
    primary = pd.Categorical(d["primary_pollutant"].astype(object).fillna(""))
    labels = [str(c).split(",") for c in primary.categories]
    led: dict[str, npt.NDArray[np.bool_]] = {}
    for code, name in (
        ("PM2.5", "pm25"),
        ("PM10", "pm10"),
        ("SO2", "so2"),
        ("NO2", "no2"),
        ("CO", "co"),
        ("O3", "o3"),
    ):
        if code == "O3":
            hit = np.array([any(t.startswith("O3") for t in lab) for lab in labels] + [False])
        else:
            hit = np.array([code in lab for lab in labels] + [False])
        led[code] = valid & hit[primary.codes]  # code -1 -> the appended False
        flags[f"days_primary_{name}"] = led[code]
    flags["polluted_days_pm25"] = flags["polluted"] & led["PM2.5"]
    flags["polluted_days_o3"] = flags["polluted"] & led["O3"]
    return flags


def _daily_limit(phase: npt.NDArray[np.str_], name: str) -> npt.NDArray[np.float64]:
    """The daily limit of `name` (`LIMITS_24H`) for each day's limit phase."""
    out = np.full(len(phase), np.nan)
    for key, limits in LIMITS_24H.items():
        out[phase == key] = limits[name]
    return out


def _exceedances(d: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per day and pollutant: exceed_days_<p> (the value, rounded as the standard rounds it,
    above the daily limit of the day's phase) and exceed_multiple_<p> ((C − S)/S, else NaN)."""
    phase = limit_phase(d["date"].to_numpy()) if len(d) else np.array([], dtype="<U4")
    exceed = pd.DataFrame(index=d.index)
    multiples = pd.DataFrame(index=d.index)
    for name, col in _EXCEEDANCE.items():
        limit = _daily_limit(phase, name)
        value = round_half_even(_float_column(d, col), 1 if name == "co" else 0)
        with np.errstate(invalid="ignore"):
            over = value > limit
        exceed[f"exceed_days_{name}"] = over
        multiples[f"exceed_multiple_{name}"] = np.where(over, (value - limit) / limit, np.nan)
    return exceed, multiples


_INDEX_FIGURES = {
    "so2": "so2",
    "no2": "no2",
    "pm10": "pm10",
    "pm25": "pm25",
    "co": "co_p95",
    "o3": "o3_8h_p90",
}
"""Denominator name -> `period_figures` column of the six terms of the composite index."""


def _denominators(
    rules: str, denominators: Mapping[str, Mapping[str, float]] | None
) -> dict[str, float]:
    """The index denominators Si of a rule set, `DEFAULT_DENOMINATORS` updated by the caller's."""
    si = {k: float(v) for k, v in DEFAULT_DENOMINATORS.get(rules, _DENOMINATORS_2012).items()}
    if denominators is not None:
        si.update({k: float(v) for k, v in denominators.get(rules, {}).items()})
    return si


def _with_comprehensive_index(
    out: pd.DataFrame, rules: str, denominators: Mapping[str, Mapping[str, float]] | None
) -> pd.DataFrame:
    """Add ci_<p>, comprehensive_index and comprehensive_index_valid (Si of `rules`)."""
    si = _denominators(rules, denominators)
    components = {
        "so2": "so2_mean",
        "no2": "no2_mean",
        "pm10": "pm10_mean",
        "pm25": "pm25_mean",
        "co": "co_p95",
        "o3": "o3_8h_p90",
    }
    for name, col in components.items():
        out[f"ci_{name}"] = out[col] / float(si[name])
    out["comprehensive_index"] = out[[f"ci_{n}" for n in components]].sum(axis=1, skipna=False)
    ci_valid_cols = ["so2_valid", "no2_valid", "pm10_valid", "pm25_valid", "co_valid"]
    out["comprehensive_index_valid"] = out[ci_valid_cols].all(axis=1) & out["o3_8h_valid"]
    return out


# --------------------------------------------------------------------------- districts


def _coverage_need(n_stations: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.integer[Any]]:
    """Stations needed: ≥ 75 % of the district's, ≥ 50 % when it has fewer than four."""
    return np.where(n_stations >= 4, (3 * n_stations + 3) // 4, (n_stations + 1) // 2)


def district_daily(daily: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """District daily values: the mean of the district's city stations, then the district AQI.

    `daily` is `daily_stats` output; `sites` has site_id, district and background (bool).
    Background stations are left out, and so are stations not in `sites`. For each pollutant
    (pm25, pm10, so2, no2, co, o3_1h_max, o3_8h_max) a station counts when its daily value for
    that pollutant is valid (not NaN); the district value is the mean over those stations when
    they are at least 75 % of the district's city stations (50 % when it has fewer than four),
    else NaN. The AQI is computed from the district means with `daily_aqi`, never by averaging
    station AQIs. Returns one row per (district, date) with any station data: the means,
    n_stations, n_valid_<pollutant>, rules, the `daily_aqi` columns and valid (as in
    `daily_stats`).
    """
    city = sites.loc[~sites["background"].astype(bool), ["site_id", "district"]]
    n_stations = city.groupby("district").size().rename("n_stations")
    cols = [*MEAN_POLLUTANTS, "o3_1h_max", "o3_8h_max"]
    present = [c for c in cols if c in daily.columns]
    m = daily[["site_id", "date", *present]].merge(city, on="site_id", how="inner")
    g = m.groupby(["district", "date"], sort=True, observed=True)
    means = g[present].mean().reindex(columns=cols)
    counts = g[present].count().reindex(columns=cols, fill_value=0)
    n = n_stations.reindex(means.index.get_level_values("district")).to_numpy(dtype=np.int64)
    enough = counts.to_numpy() >= _coverage_need(n)[:, None]
    frame = means.where(enough)
    frame["n_stations"] = n
    for c in cols:
        frame[f"n_valid_{c}"] = counts[c].to_numpy()
    frame = frame.reset_index()
    return _with_aqi(frame, frame["date"].to_numpy())


# --------------------------------------------------------------------------- bulletin figures

FIGURE_POLLUTANTS = ("pm25", "pm10", "so2", "no2", "co", "o3")
"""Pollutant keys of the exceedance and primary-pollutant day counts of `period_figures`
(``o3`` covers the MDA8 and, under the 2012 rules, the daily maximum 1-h value)."""

FIGURE_CATEGORIES = {
    "优": "excellent",
    "良": "good",
    "轻度污染": "light",
    "中度污染": "moderate",
    "重度污染": "heavy",
    "严重污染": "severe",
}
"""Output column of `period_figures` for the days of each AQI category."""

FIGURE_DECIMALS = {
    "good_day_ratio": 1,
    "pm25": 0,
    "pm10": 0,
    "so2": 0,
    "no2": 0,
    "co_p95": 1,
    "o3_8h_p90": 0,
    "comprehensive_index": 2,
}
"""How the bulletins publish each figure: decimals after GB/T 8170 rounding (half to even)."""


def period_figures(
    daily: pd.DataFrame,
    start: date | str | pd.Timestamp,
    end: date | str | pd.Timestamp,
    *,
    by: str | Sequence[str] = "area",
    rounded: bool = True,
    index_from_published: bool = False,
    denominators: Mapping[str, Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """Period figures as the monthly and annual bulletins publish them (HJ 663, HJ 633).

    `daily` holds daily values (an area's or a station's: pm25, pm10, so2, no2, co, o3_8h_max,
    o3_1h_max at full precision, µg/m³, CO mg/m³; aqi, category, primary_pollutant, valid);
    `by` names the group column(s). Returns one row per group with data in start … end
    (local dates, both included):

    - n_days: calendar days of the period; n_valid_days: days with a valid daily AQI;
    - excellent, good, light, moderate, heavy, severe: valid days per AQI category;
    - good_day_ratio: (excellent + good) ÷ n_valid_days × 100 (%), NaN without valid days;
    - pm25, pm10, so2, no2: means of the daily values; co_p95: 95th percentile of daily CO;
      o3_8h_p90: 90th percentile of MDA8 (HJ 663 A.6, `percentile`);
    - comprehensive_index: Σ Ci/Si of those six (Si of the rule set in force at `end`,
      `DEFAULT_DENOMINATORS` updated by `denominators`);
    - exceedance_<p>: days whose daily value exceeds the daily limit in force that day
      (`LIMITS_24H`, the value rounded as the standard rounds it; o3: MDA8, or under 2012 the
      daily maximum 1-h value); primary_<p>: valid days whose primary pollutants include p,
      for p in `FIGURE_POLLUTANTS`;
    - n_pm25: days with a valid PM2.5 value; polluted_days_pm25, polluted_days_o3: days with
      AQI > 100 led by PM2.5 / by O3;
    - validity_note: the HJ 663 month/year coverage rules that are not met ('' when all are).

    With `rounded` (the default) every figure is rounded once, from full precision, as the
    bulletins publish it (`FIGURE_DECIMALS`, GB/T 8170 half to even): ratios to 0.1 %,
    concentrations to integers, CO to 0.1 mg/m³, the index to 0.01. Missing stays NaN.
    `index_from_published` computes the index from the six published (rounded) figures
    instead of from full precision, for comparison with bulletins that do so.
    """
    keys = [by] if isinstance(by, str) else list(by)
    start_ts = pd.Timestamp(start).normalize()
    end_ts = pd.Timestamp(end).normalize()
    stats = period_stats(daily, start_ts, end_ts, by=keys, denominators=denominators)
    out = stats[keys].copy()
    out["n_days"] = int((end_ts - start_ts).days) + 1
    out["n_valid_days"] = stats["n_valid_days"].astype(np.int64)
    for cat, column in CATEGORY_COLUMNS.items():
        out[FIGURE_CATEGORIES[cat]] = stats[column].astype(np.int64)
    good = (out["excellent"] + out["good"]).to_numpy(dtype=np.float64)
    valid = out["n_valid_days"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["good_day_ratio"] = np.where(valid > 0, good / valid * 100, np.nan)
    for p in ("pm25", "pm10", "so2", "no2"):
        out[p] = stats[f"{p}_mean"].astype(np.float64)
    out["co_p95"] = stats["co_p95"].astype(np.float64)
    out["o3_8h_p90"] = stats["o3_8h_p90"].astype(np.float64)
    out["comprehensive_index"] = stats["comprehensive_index"].astype(np.float64)
    if index_from_published:
        si = _denominators(str(stats["rules"].iloc[0]) if len(stats) else "2012", denominators)
        published = round_figures(out)
        out["comprehensive_index"] = sum(
            published[col] / si[name] for name, col in _INDEX_FIGURES.items()
        )
    out["exceedance_o3"] = _o3_exceedance_days(daily, start_ts, end_ts, keys, stats)
    for p in FIGURE_POLLUTANTS:
        if p != "o3":
            out[f"exceedance_{p}"] = stats[f"exceed_days_{p}"].astype(np.int64)
        out[f"primary_{p}"] = stats[f"days_primary_{p}"].astype(np.int64)
    out = out[
        [
            *keys,
            "n_days",
            "n_valid_days",
            *FIGURE_CATEGORIES.values(),
            *FIGURE_DECIMALS,
            *(f"exceedance_{p}" for p in FIGURE_POLLUTANTS),
            *(f"primary_{p}" for p in FIGURE_POLLUTANTS),
        ]
    ]
    out["n_pm25"] = stats["n_pm25"].astype(np.int64)
    out["polluted_days_pm25"] = stats["polluted_days_pm25"].astype(np.int64)
    out["polluted_days_o3"] = stats["polluted_days_o3"].astype(np.int64)
    out["validity_note"] = stats["validity_note"].to_numpy(dtype=object)
    return round_figures(out) if rounded else out


def _o3_exceedance_days(
    daily: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    keys: list[str],
    stats: pd.DataFrame,
) -> npt.NDArray[np.int64]:
    """Days per group whose MDA8 or (2012 rules) daily maximum 1-h O3 exceeds its limit."""
    dates = pd.DatetimeIndex(daily["date"])
    d = daily.loc[(dates >= start) & (dates <= end)]
    if d.empty:
        return np.zeros(len(stats), dtype=np.int64)
    day = pd.DatetimeIndex(d["date"]).values
    phase = limit_phase(day)
    rules = ruleset_for(day)
    over = np.zeros(len(d), dtype=bool)
    for name, col in (("o3_8h", "o3_8h_max"), ("o3_1h", "o3_1h_max")):
        limit = _daily_limit(phase, name)
        value = round_half_even(_float_column(d, col))
        with np.errstate(invalid="ignore"):
            hit = value > limit
        over |= hit if name == "o3_8h" else hit & (rules == "2012")
    counts = pd.Series(over, index=d.index).groupby([d[k] for k in keys], observed=True).sum()
    index = pd.MultiIndex.from_frame(stats[keys]) if len(keys) > 1 else pd.Index(stats[keys[0]])
    return np.asarray(counts.reindex(index, fill_value=0), dtype=np.int64)


def round_figures(figures: pd.DataFrame) -> pd.DataFrame:
    """Round the columns of `FIGURE_DECIMALS` once, half to even, as the bulletins publish them."""
    out = figures.copy()
    for col, decimals in FIGURE_DECIMALS.items():
        if col in out.columns:
            out[col] = round_half_even(out[col].to_numpy(dtype=np.float64), decimals)
    return out


RANK_FIGURES = (
    "n_valid_days",
    "good_day_ratio",
    "rank_good_day_ratio",
    "comprehensive_index",
    "rank_comprehensive_index",
    "pm25",
)
"""The figures of a ranking, in order: days, 优良率 (%) and its rank, 综合指数 and its rank, PM2.5."""


def rank_areas(figures: pd.DataFrame, areas: Sequence[str], *, by: str = "area") -> pd.DataFrame:
    """Rank areas by good-day ratio (higher first) and comprehensive index (lower first).

    `figures` is `period_figures` output (rounded: areas equal as published share a rank).
    Every area of `areas` gets a row, in that order of listing, and so does any other area in
    `figures`. Competition ranking ("1224"): ties share the better rank and the next rank skips.
    An area without valid days is listed with ``no_data`` and not ranked; one without a
    comprehensive index is not ranked by it. Returns `by`, n_valid_days, good_day_ratio,
    rank_good_day_ratio, comprehensive_index, rank_comprehensive_index (Int64), pm25 and
    no_data, ordered by good-day rank, then index rank, then the order of `areas`.
    """
    fig = figures.set_index(by)
    names = list(dict.fromkeys([*areas, *fig.index]))
    out = pd.DataFrame(index=pd.Index(names, name=by))
    out["n_valid_days"] = fig["n_valid_days"].reindex(out.index).fillna(0).astype(np.int64)
    out["no_data"] = out["n_valid_days"] == 0
    for col in ("good_day_ratio", "comprehensive_index", "pm25"):
        out[col] = fig[col].reindex(out.index).astype(np.float64).where(~out["no_data"])
    out["rank_good_day_ratio"] = (
        out["good_day_ratio"].rank(ascending=False, method="min").astype("Int64")
    )
    out["rank_comprehensive_index"] = (
        out["comprehensive_index"].rank(ascending=True, method="min").astype("Int64")
    )
    out["_order"] = np.arange(len(out))
    out = out.reset_index().sort_values(
        ["rank_good_day_ratio", "rank_comprehensive_index", "_order"], na_position="last"
    )
    return out[[by, *RANK_FIGURES, "no_data"]].reset_index(drop=True)
