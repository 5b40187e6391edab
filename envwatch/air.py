"""Air results in the store: hourly AQI and HJ 663 station days, and DataFrames for staff.

Derived tables are recomputed for exactly the station-hours an ingest wrote (``air_hour``) and
the natural days those hours belong to (``air_day``), in the ingest's transaction.

Time conventions: the store keeps Unix seconds (UTC) of the end of each hour. Staff see local
hour-ending labels: the value labelled 01:00 covers 00:00-01:00 and 24:00 is written as 00:00 of
the next day. A natural day D is the hours labelled D 01:00 … D+1 00:00; its rule set (``2012``
before 2026-03-01, ``2026`` from then on) follows D.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from envwatch import read
from envwatch.standards import air_stats, aqi
from envwatch.store import AIR_POLLUTANTS, Store

_AIR_DAY = read.Scope("date", "date", "site_id", name="air_day")

HOUR_PARAMETERS = (*AIR_POLLUTANTS, "aqi_published")

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
    "iaqi_pm25",
    "iaqi_pm10",
    "iaqi_so2",
    "iaqi_no2",
    "iaqi_co",
    "iaqi_o3_1h",
    "iaqi_o3_8h",
    "aqi",
    "category",
    "primary_pollutant",
    "exceeding",
    "valid",
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


def derive(store: Store, written: pd.DataFrame, state: pd.DataFrame, tz: str) -> Derived:
    """Recompute the hours and natural days touched by `written` (rows of an upsert)."""
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

    out.hours = store.derive_air_hours(keys, state, compute)
    site_days = pd.DataFrame(
        {
            "site_id": keys["site_id"].to_numpy(),
            "date": natural_day_of(keys["period_end"], tz).to_numpy(),
        }
    ).drop_duplicates()
    out.days = derive_days(store, site_days, tz)
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
    sql, params = read.select(
        "SELECT d.*, s.district, s.background FROM air_day d JOIN sites s USING (site_id)",
        _AIR_DAY,
        "site_id, date",
        site_ids=sites,
        first=read.local_day(start, "start") if start is not None else None,
        last=read.local_day(end, "end") if end is not None else None,
    )
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
    """District days (HJ 663): mean of the district's city stations, background ones excluded,
    with the coverage rule; the AQI recomputed from the district means."""
    sites = store.sites("air")
    if city is not None:
        sites = sites.loc[sites["city"] == city]
    sites = sites.loc[sites["district"].notna()]
    sites = sites.assign(background=sites["background"].astype(bool))
    days = daily(store, sites["site_id"].tolist(), start, end)
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
    """Period statistics of each district (good-day ratio, comprehensive index, ...) and its
    rank among `districts`; districts with no data are listed with ``no_data``."""
    dd = district_daily(store, start, end, city)
    if dd.empty:
        stats = pd.DataFrame(
            columns=["district", "good_day_ratio", "comprehensive_index", "n_valid_days"]
        )
    else:
        stats = air_stats.period_stats(dd, start, end, by="district")
    ranks = air_stats.rank_districts(stats, list(districts))
    if stats.empty:
        return ranks
    extra = stats.drop(
        columns=[c for c in ("good_day_ratio", "comprehensive_index", "n_valid_days") if c in stats]
    )
    return ranks.merge(extra, on="district", how="left")


def hourly(
    store: Store,
    sites: Sequence[str] | None = None,
    start: int | None = None,
    end: int | None = None,
) -> pd.DataFrame:
    """Station-hours from ``air_hour`` (period_end in Unix seconds, start < t <= end)."""
    return store.air_hours(list(sites) if sites is not None else None, start, end, all_columns=True)
