"""Area values (city, district, group of stations) as the authorities publish them.

Checked against the MEE's published city hourly values of 2019-02-05 (``tests/data/README``):

- **Hourly**: the mean of the available 1-h values of the area's counting stations at that
  hour, rounded once from full precision (GB/T 8170 half to even: integers in µg/m³, CO to
  0.1 mg/m³); the hourly AQI by the station rule (PM2.5 and PM10 1-h values on the 24-h
  breakpoints) from the rounded values.
- **Daily**: the mean of the counting stations' HJ 663 daily values (24-h means; O3 MDA8), each
  pollutant over the stations whose daily value is valid, when they are at least 75 % of the
  area's counting stations (50 % when it has fewer than four); the O3 daily maximum 1-h is the
  largest of the area's *hourly* values (not the mean of the stations' maxima); rounded once;
  the daily AQI (2012 or 2026 rules, by date) from the rounded values.

Which stations count is decided by the caller (`counting`): background (对照点) and stopped
stations are left out, by date.

Time: ``time_local`` is the hour-ending local label (tz-naive); ``date`` the natural day
(hours 01:00 … 24:00). Units: µg/m³, CO mg/m³. NaN is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from envwatch.standards.aqi import daily_aqi, hourly_aqi, round_half_even, ruleset_for

__all__ = [
    "DAILY_AQI_COLUMNS",
    "DAILY_VALUES",
    "HOURLY_VALUES",
    "area_daily",
    "area_hourly",
    "counting",
    "coverage_need",
    "round_published",
]

HOURLY_VALUES = ("pm25", "pm10", "so2", "no2", "co", "o3")
"""Area hourly concentrations (1-h values)."""

DAILY_VALUES = ("pm25", "pm10", "so2", "no2", "co", "o3_1h_max", "o3_8h_max")
"""Area daily values: five 24-h means, the O3 daily maximum 1-h and the MDA8."""

DAILY_AQI_COLUMNS = (
    *(f"iaqi_{p}" for p in ("pm25", "pm10", "so2", "no2", "co", "o3_1h", "o3_8h")),
    "aqi",
    "category",
    "primary_pollutant",
    "exceeding",
    "valid",
)
"""The daily AQI columns stored with station and area days."""

_MIN_HOURS = 20  # HJ 663: a daily statistic of hourly values needs 20 of them
_O3_1H_LIMIT = 200  # above it a maximum over part of the day still stands (as for stations)


def _decimals(col: str) -> int:
    return 1 if col.startswith("co") else 0


def round_published(frame: pd.DataFrame, cols: Any) -> pd.DataFrame:
    """Concentrations rounded as published: half to even, integers, CO to 0.1 (GB/T 8170).

    Returns a copy of `frame` with `cols` rounded once from the values given (pass full
    precision: rounding 44.54 to 44.5 first would publish 44, not 45).
    """
    out = frame.copy()
    for c in cols:
        out[c] = round_half_even(pd.to_numeric(out[c], errors="coerce"), _decimals(c))
    return out


def coverage_need(n_stations: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Stations with a valid daily value an area needs: ≥ 75 % of its stations, ≥ 50 % under four.

    HJ 663 applies this to a city's daily value; envwatch applies it to every area.
    """
    n = np.asarray(n_stations, dtype=np.int64)
    return np.where(n >= 4, (3 * n + 3) // 4, (n + 1) // 2)


def counting(site_id: pd.Series, day: pd.Series, membership: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Whether each (station, natural day) counts in its areas' values.

    `membership` has site_id, valid_from, valid_until (datetime64 days, NaT = open) and role
    (``counts``, ``background`` or ``stopped``). A station with no row counts always; one with
    rows counts on the days of a ``counts`` period only (outside every period it was not in
    service).
    """
    sid = pd.Series(np.asarray(site_id, dtype=object))
    d = pd.to_datetime(pd.Series(np.asarray(day))).to_numpy(dtype="datetime64[ns]")
    out = ~sid.isin(set(membership["site_id"])).to_numpy()
    if membership.empty or out.all():
        return out
    frame = pd.DataFrame({"site_id": sid, "day": d, "row": np.arange(len(sid))})
    frame = frame.loc[~out]
    m = frame.merge(membership, on="site_id", how="inner")
    lo = pd.to_datetime(m["valid_from"]).to_numpy(dtype="datetime64[ns]")
    hi = pd.to_datetime(m["valid_until"]).to_numpy(dtype="datetime64[ns]")
    day_ns = m["day"].to_numpy(dtype="datetime64[ns]")
    inside = (np.isnat(lo) | (day_ns >= lo)) & (np.isnat(hi) | (day_ns <= hi))
    rows = m.loc[inside & (m["role"].to_numpy() == "counts"), "row"].to_numpy()
    out[rows] = True
    return out


def area_hourly(hourly: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Area hourly values from station hours.

    `hourly` has site_id, time_local and the 1-h concentrations (`HOURLY_VALUES`), only the
    hours in which the station counts (filter with `counting` by the hour's natural day);
    `members` has level, area, site_id: the areas each station's value goes into. Returns one
    row per (level, area, time_local) with any value: pm25 … o3 (published rounding),
    pm25_exact … o3_exact, n_stations (stations with any value that hour), rules, aqi,
    category, primary_pollutant.
    """
    cols = list(HOURLY_VALUES)
    site_code, site_ids = pd.factorize(hourly["site_id"])
    member_site = pd.Index(site_ids).get_indexer(members["site_id"])
    members = members.loc[member_site >= 0]
    member_site = member_site[member_site >= 0]
    if members.empty or len(hourly) == 0:
        return _empty_hourly()
    group_code, groups = pd.factorize(pd.MultiIndex.from_frame(members[["level", "area"]]))
    # every station-hour once per area its station is in (a station is in a few areas at most)
    order = np.argsort(member_site, kind="stable")
    per_site = np.bincount(member_site, minlength=len(site_ids))
    first = np.cumsum(per_site) - per_site
    repeat = per_site[site_code]
    row = np.repeat(np.arange(len(hourly)), repeat)
    within = np.arange(len(row)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    group = group_code[order][first[site_code[row]] + within]
    time_code, times = pd.factorize(hourly["time_local"])
    # one integer key per (area, hour): bincount is much faster than a groupby on 14 M rows
    key_id, keys = pd.factorize(group.astype(np.int64) * len(times) + time_code[row], sort=True)
    n_keys = len(keys)
    out = pd.DataFrame(
        {
            "level": groups.get_level_values(0).take(keys // len(times)),
            "area": groups.get_level_values(1).take(keys // len(times)),
            "time_local": times.take(keys % len(times)),
        }
    )
    has_any = np.zeros(len(hourly), dtype=bool)
    for c in cols:
        v = pd.to_numeric(hourly[c], errors="coerce").to_numpy(dtype=np.float64)[row]
        ok = ~np.isnan(v)
        has_any[row[ok]] = True
        n = np.bincount(key_id, weights=ok, minlength=n_keys)
        total = np.bincount(key_id, weights=np.where(ok, v, 0.0), minlength=n_keys)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[c] = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    out["n_stations"] = np.bincount(key_id, weights=has_any[row], minlength=n_keys).astype(np.int64)
    out = out.loc[out["n_stations"] > 0].sort_values(["level", "area", "time_local"])
    out = out.reset_index(drop=True)
    for c in cols:
        out[f"{c}_exact"] = out[c]
    out = round_published(out, cols)
    day = (pd.DatetimeIndex(out["time_local"]) - pd.Timedelta(hours=1)).normalize()
    rules = ruleset_for(day)
    res = hourly_aqi(out[cols], rules)
    out["rules"] = rules
    out["aqi"] = res["aqi"].to_numpy()
    out["category"] = res["category"].astype(object).to_numpy()
    out["primary_pollutant"] = res["primary_pollutant"].astype(object).to_numpy()
    return out


def _empty_hourly() -> pd.DataFrame:
    cols = ["level", "area", "time_local", *HOURLY_VALUES, "n_stations"]
    cols += [f"{c}_exact" for c in HOURLY_VALUES]
    cols += ["rules", "aqi", "category", "primary_pollutant"]
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})


def area_daily(
    daily: pd.DataFrame, members: pd.DataFrame, hourly_areas: pd.DataFrame
) -> pd.DataFrame:
    """Area daily values from station days and the area's own hourly series.

    `daily` is station days (`air_stats.daily_stats` columns site_id, date, pm25 … co,
    o3_8h_max at full precision; NaN = not valid); `members` has level, area, site_id, date:
    the stations that count in each area on each day (every counting station, whether it
    reported or not: they are the denominator of the coverage rule); `hourly_areas` is
    `area_hourly` output for the same areas and days (its rounded ``o3`` gives the O3 daily
    maximum 1-h). Returns one row per (level, area, date) with a counting station: the values
    rounded as published, ``*_exact``, n_stations (counting stations), n_valid_<value>, rules,
    the daily AQI columns (aqi, category, primary_pollutant, iaqi_*) and valid.
    """
    means = ["pm25", "pm10", "so2", "no2", "co", "o3_8h_max"]
    dd = daily.assign(date=pd.to_datetime(daily["date"]))
    mm = members.assign(date=pd.to_datetime(members["date"]))
    n_st = mm.groupby(["level", "area", "date"], sort=True, observed=True).size()
    if n_st.empty:
        return pd.DataFrame(
            columns=["level", "area", "date", *DAILY_VALUES, "n_stations", "valid", "aqi"]
        )
    m = mm.merge(dd[["site_id", "date", *means]], on=["site_id", "date"], how="left")
    g = m.groupby(["level", "area", "date"], sort=True, observed=True)
    mean = g[means].mean().reindex(n_st.index)
    count = g[means].count().reindex(n_st.index, fill_value=0)
    need = coverage_need(n_st.to_numpy())
    out = mean.where(count.to_numpy() >= need[:, None])
    out["n_stations"] = n_st.to_numpy()
    for c in means:
        out[f"n_valid_{c}"] = count[c].to_numpy()

    # O3 daily maximum 1-h from the area's hourly series (rounded hourly values).
    h = hourly_areas.loc[hourly_areas["o3"].notna(), ["level", "area", "time_local", "o3"]]
    h = h.assign(date=(pd.DatetimeIndex(h["time_local"]) - pd.Timedelta(hours=1)).normalize())
    hg = h.groupby(["level", "area", "date"], sort=True, observed=True)["o3"]
    o3max = hg.max().reindex(n_st.index)
    n_o3 = hg.count().reindex(n_st.index, fill_value=0)
    ok = (n_o3.to_numpy() >= _MIN_HOURS) | (o3max.to_numpy() > _O3_1H_LIMIT)
    out["o3_1h_max"] = o3max.where(ok)
    out["n_valid_o3_1h_max"] = n_o3.to_numpy()
    out = out.reset_index()
    for c in DAILY_VALUES:
        out[f"{c}_exact"] = out[c]
    out = round_published(out, DAILY_VALUES)
    rules = ruleset_for(out["date"].to_numpy()) if len(out) else np.array([], dtype="<U4")
    aqi = daily_aqi(out[list(DAILY_VALUES)], rules)
    out["rules"] = rules
    for c in aqi.columns:
        if c.startswith("iaqi_") or c in ("aqi",):
            out[c] = aqi[c].to_numpy()
    for c in ("category", "primary_pollutant", "exceeding"):
        out[c] = aqi[c].astype(object).to_numpy()
    valid = np.ones(len(out), dtype=bool)
    for c in ("pm25", "pm10", "so2", "no2", "co", "o3_8h_max"):
        valid &= out[c].notna().to_numpy()
    valid &= (rules == "2026") | out["o3_1h_max"].notna().to_numpy()
    out["valid"] = valid
    return out
