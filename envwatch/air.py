"""Air results in the store: hourly AQI and HJ 663 station days, and DataFrames for staff.

Derived tables are recomputed for exactly the station-hours an ingest wrote (``air_hour``) and
the natural days those hours belong to (``air_day``), in the ingest's transaction.

Time conventions: the store keeps Unix seconds (UTC) of the end of each hour. Staff see local
hour-ending labels: the value labelled 01:00 covers 00:00-01:00 and 24:00 is written as 00:00 of
the next day. A natural day D is the hours labelled D 01:00 … D+1 00:00; its rule set (``2012``
before 2026-03-01, ``2026`` from then on) follows D.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from envwatch import area, read
from envwatch.standards import air_stats, aqi
from envwatch.standards import area as area_rules
from envwatch.store import AIR_POLLUTANTS, Store

_AIR_DAY = read.Scope("date", "date", "site_id", name="air_day")

HOUR_PARAMETERS = (*AIR_POLLUTANTS, "aqi_published")

# What the hourly AQI is computed from: wide column -> (parameter, averaging). The running 24-h
# SO2 mean stands in for the 1-h SO2 above 800 µg/m³ under the 2012 rules (HJ 633).
HOUR_INPUTS: dict[str, tuple[str, str]] = {
    **{p: (p, "1h") for p in AIR_POLLUTANTS},
    "aqi_published": ("aqi_published", "1h"),
    "so2_24h": ("so2", "24h"),
}

DAY_COLUMNS = (
    "site_id",
    "date",
    "rules",
    "pm25",
    "pm10",
    "so2",
    "no2",
    "co",
    "o3_1h_max",
    "o3_8h_max",
    "n_pm25",
    "n_pm10",
    "n_so2",
    "n_no2",
    "n_co",
    "n_o3",
    "n_o3_8h",
    *area_rules.DAILY_AQI_COLUMNS,
)


def local_hour_ending(period_end: pd.Series, tz: str) -> pd.Series:
    """Unix seconds (UTC) -> tz-naive local hour-ending timestamps (24:00 is next day 00:00)."""
    return pd.to_datetime(period_end, unit="s", utc=True).dt.tz_convert(tz).dt.tz_localize(None)


def natural_day_of(period_end: pd.Series, tz: str) -> pd.Series:
    """The natural day (local date) an hour-ending instant belongs to: 00:00 is the day before."""
    return (local_hour_ending(period_end, tz) - pd.Timedelta(seconds=1)).dt.normalize()


def compute_hours(wide: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Hourly AQI (HJ 633, as CNEMC publishes it) for station-hours.

    `wide` has site_id, period_end and the 1-h concentrations; adds rules, aqi, category and
    primary_pollutant. The published AQI is carried along for comparison, never used.
    """
    rules = aqi.ruleset_for(natural_day_of(wide["period_end"], tz).to_numpy())
    res = aqi.hourly_aqi(wide[[*AIR_POLLUTANTS, "so2_24h"]], rules)
    out = wide.copy()
    out["rules"] = rules
    out["aqi"] = res["aqi"].to_numpy()
    out["category"] = res["category"].astype(object).to_numpy()
    out["primary_pollutant"] = res["primary_pollutant"].astype(object).to_numpy()
    return out


@dataclass
class Derived:
    """What one derivation recomputed, and how many hours' computed AQI differs from the AQI
    the source published (never copied: a difference is a finding, not an error)."""

    hours: int = 0
    days: int = 0
    mismatches: int = 0
    area_days: int = 0


def derive(store: Store, written: pd.DataFrame, state: pd.DataFrame, tz: str) -> Derived:
    """Recompute the hours and natural days touched by `written` (rows of an upsert), and the
    area values (city, district, group) of those days (`envwatch.area.derive`)."""
    out = Derived()
    if written.empty:
        return out
    mask = (written["averaging"] == "1h") & written["parameter"].isin(HOUR_PARAMETERS) | (
        (written["parameter"] == "so2") & (written["averaging"] == "24h")
    )
    keys = written.loc[mask, ["site_id", "period_end"]].drop_duplicates()
    if keys.empty:
        return out

    def compute(wide: pd.DataFrame) -> pd.DataFrame:
        result = compute_hours(wide, tz)
        published = result["aqi_published"]
        differs = published.notna() & (result["aqi"].astype("Float64") != published)
        out.mismatches += int(differs.fillna(True).sum())
        return result

    out.hours = derive_hours(store, keys, state, compute)
    site_days = pd.DataFrame(
        {
            "site_id": keys["site_id"].to_numpy(),
            "date": natural_day_of(keys["period_end"], tz).to_numpy(),
        }
    ).drop_duplicates()
    out.days = derive_days(store, site_days, tz)
    # city, district and group values of the areas these stations count in, same days
    out.area_days = area.derive(
        store,
        site_days["site_id"].unique().tolist(),
        pd.Timestamp(site_days["date"].min()),
        pd.Timestamp(site_days["date"].max()),
        tz,
    )
    return out


def derive_hours(
    store: Store,
    keys: pd.DataFrame,
    state: pd.DataFrame,
    compute: Callable[[pd.DataFrame], pd.DataFrame],
) -> int:
    """Recompute ``air_hour`` rows for the (site_id, period_end) pairs in `keys`.

    `state` holds stored values known to the caller (long format, as an upsert's state);
    inputs (`HOUR_INPUTS`) of a touched site that `state` does not cover are read from the
    store. `compute` takes the wide frame (site_id, period_end and one column per input)
    and adds rules, aqi, category and primary_pollutant.
    """
    if keys.empty:
        return 0
    keys = keys.drop_duplicates()
    lo, hi = int(keys["period_end"].min()), int(keys["period_end"].max())
    parts = [_hour_inputs(state)]
    have = set(zip(parts[0]["site_id"].tolist(), parts[0]["column"].tolist(), strict=True))
    lacking = {
        (s, c) for s in pd.unique(keys["site_id"]) for c in HOUR_INPUTS if (s, c) not in have
    }
    if lacking:
        extra = _hour_inputs(
            store.observations(
                sorted({s for s, _ in lacking}),
                sorted({HOUR_INPUTS[c][0] for _, c in lacking}),
                lo - 1,
                hi,
            )
        )
        mask = [
            (s, c) in lacking
            for s, c in zip(extra["site_id"].tolist(), extra["column"].tolist(), strict=True)
        ]
        parts.append(extra.loc[mask])
    long = pd.concat(parts, ignore_index=True).merge(
        keys[["site_id", "period_end"]], on=["site_id", "period_end"], how="inner"
    )
    if long.empty:
        return 0
    wide = long.set_index(["site_id", "period_end", "column"])["value"].unstack("column")
    wide = wide.reindex(columns=list(HOUR_INPUTS)).reset_index()
    wide.columns.name = None
    result = compute(wide)
    cols = [
        "site_id",
        "period_end",
        "rules",
        *AIR_POLLUTANTS,
        "aqi",
        "category",
        "primary_pollutant",
        "aqi_published",
    ]
    store.replace_rows("air_hour", result, cols)
    return len(result)


def _hour_inputs(obs: pd.DataFrame) -> pd.DataFrame:
    """The rows of long-format `obs` that feed the hourly AQI, with their wide column name."""
    # one lookup per (parameter, averaging) pair, not a string comparison per row
    pc, params = pd.factorize(obs["parameter"])
    ac, avgs = pd.factorize(obs["averaging"])
    pairs = {pa: name for name, pa in HOUR_INPUTS.items()}
    table = np.array(
        [[pairs.get((str(p), str(a))) for a in avgs] for p in params], dtype=object
    ).reshape(len(params), len(avgs))
    column = table[pc, ac] if len(obs) else np.empty(0, dtype=object)
    keep = pd.notna(column)
    if "flag" in obs.columns:  # a flagged value (e.g. a platform's invalid mark) is not used
        keep &= obs["flag"].fillna("").astype(str).to_numpy() == ""
    out = obs.loc[keep, ["site_id", "period_end", "value"]].copy()
    out["column"] = column[keep]
    return out


def derive_days(store: Store, site_days: pd.DataFrame, tz: str) -> int:
    """Recompute ``air_day`` (HJ 663 daily values and daily AQI) for (site_id, date) pairs."""
    if site_days.empty:
        return 0
    first = pd.Timestamp(site_days["date"].min())
    last = pd.Timestamp(site_days["date"].max())
    # hours labelled first 01:00 … last+1 00:00, local -> UTC seconds
    lo = int(first.tz_localize(tz).timestamp())
    hi = int((last + pd.Timedelta(days=1)).tz_localize(tz).timestamp())
    hourly = store.air_hours(sorted(site_days["site_id"].unique().tolist()), lo, hi)
    if hourly.empty:
        return 0
    hourly["time_local"] = local_hour_ending(hourly["period_end"], tz)
    hourly["date"] = natural_day_of(hourly["period_end"], tz)
    wanted = site_days.assign(date=pd.to_datetime(site_days["date"]))
    hourly = hourly.merge(wanted, on=["site_id", "date"], how="inner")
    daily = air_stats.daily_stats(hourly.drop(columns=["date", "period_end"]))
    daily["date"] = pd.to_datetime(daily["date"]).dt.strftime("%Y-%m-%d")
    daily["valid"] = daily["valid"].astype(int)
    for c in ("category", "primary_pollutant", "exceeding", "rules"):
        daily[c] = daily[c].astype(object)
    store.replace_rows("air_day", daily, DAY_COLUMNS)
    return len(daily)


# -- DataFrames for staff and for the report ------------------------------------------------------


def daily(
    store: Store,
    sites: Sequence[str] | None = None,
    start: date | str | None = None,
    end: date | str | None = None,
) -> pd.DataFrame:
    """Station days from ``air_daily`` (natural days start … end, inclusive, local dates).

    Concentrations in µg/m³ (CO mg/m³) at full precision; ``date`` is a datetime64 at midnight;
    ``valid`` is bool.
    """
    sql = "SELECT d.*, s.district, s.background FROM air_day d JOIN sites s USING (site_id)"
    sql, params = read.select(sql, _AIR_DAY, "site_id, date", site_ids=sites, start=start, end=end)
    df = pd.read_sql_query(sql, store.conn, params=params)
    df["date"] = pd.to_datetime(df["date"])
    df["valid"] = df["valid"].astype(bool)
    df["background"] = df["background"].astype(bool)
    return df


def district_daily(
    store: Store,
    start: date | str | None = None,
    end: date | str | None = None,
    city: str | None = None,
) -> pd.DataFrame:
    """District days (HJ 663): mean of the district's city stations, background and stopped
    ones excluded by date (`membership`), with the coverage rule; the AQI recomputed from the
    district means. The published district values are `envwatch.area` (view ``area_daily``)."""
    sites = store.sites("air")
    if city is not None:
        sites = sites.loc[sites["city"] == city]
    sites = sites.loc[sites["district"].notna()]
    days = daily(store, sites["site_id"].tolist(), start, end)
    membership = area.membership_table(sites, area.stored_config(store))
    days = days.loc[area_rules.counting(days["site_id"], days["date"], membership)]
    # the coverage rule's denominator: the stations that count on some day of the period
    if len(days):
        grid = sites[["site_id"]].merge(
            pd.DataFrame({"date": pd.date_range(days["date"].min(), days["date"].max())}),
            how="cross",
        )
        counting = grid.loc[area_rules.counting(grid["site_id"], grid["date"], membership)]
        sites = sites.assign(background=~sites["site_id"].isin(set(counting["site_id"])))
    else:
        sites = sites.assign(background=sites["background"].astype(bool))
    if days.empty:
        return air_stats.district_daily(
            air_stats.daily_stats(pd.DataFrame(columns=["site_id", "time_local"])), sites
        )
    return air_stats.district_daily(days.drop(columns=["district", "background"]), sites)


def district_summary(
    store: Store,
    start: date | str,
    end: date | str,
    districts: Sequence[str],
    city: str | None = None,
) -> pd.DataFrame:
    """The city's ranking areas over start … end: `districts` and the configured groups, from
    their area values (view ``area_daily``), with the figures as published and their ranks
    (`envwatch.stats.rank`: ties share the better rank; areas with no valid day are listed with
    ``no_data`` and not ranked).

    Columns: district (the area's name), level (``district`` or ``group``), n_valid_days,
    good_day_ratio (%), rank_good_day_ratio, comprehensive_index, rank_comprehensive_index,
    pm25 and pm25_mean (µg/m³, published as an integer), good_days, n_pm25, stations (ids of
    the stations behind the figure), station_names, no_data. `city` is kept for callers of the
    earlier signature; the area values already belong to the configured city.
    """
    from envwatch import stats

    areas = stats.ranking_areas(store, districts, start, end)
    ranked = stats.rank(store, areas, start, end)
    figures = stats.area_figures(store, [a.name for a in areas], start, end)
    extra = pd.DataFrame(
        {
            "area": figures["area"],
            "good_days": figures["excellent"] + figures["good"],
            "n_pm25": figures["n_pm25"],
        }
    )
    out = ranked.merge(extra, on="area", how="left")
    out["good_days"] = out["good_days"].fillna(0).astype("int64")
    out["n_pm25"] = out["n_pm25"].fillna(0).astype("int64")
    out["pm25_mean"] = out["pm25"]
    return out.rename(columns={"area": "district"})


def hourly(
    store: Store,
    sites: Sequence[str] | None = None,
    start: int | None = None,
    end: int | None = None,
) -> pd.DataFrame:
    """Station-hours from ``air_hour`` (period_end in Unix seconds, start < t <= end)."""
    return store.air_hours(list(sites) if sites is not None else None, start, end, all_columns=True)
