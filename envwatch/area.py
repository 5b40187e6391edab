"""City, district and group values in the store (``area_hour``, ``area_day``), as published.

Which stations make which area's value:

- **city** (level ``city``): every city with air stations in the registry; its name is the
  station's ``city`` written in full (the national station list writes 宁波, the MEE 宁波市).
  Stations of the control levels ``areas.city_control_levels`` (default 国控) count.
- **district** (level ``district``): the region city's districts, by the stations' ``district``
  (point in polygon); stations of ``areas.control_levels`` (default 国控, 省控, 市控).
- **group** (level ``group``): ``areas.groups`` of stations.yaml, e.g. 大榭; same levels.

Background (对照点) and stopped stations are left out by date (`membership` of a site; the
old ``background: true`` means background always). An air station without a control level is
国控: the national feeds' stations. The rules themselves are in `envwatch.standards.area`.

The configuration's part that decides membership is copied into the store (meta
``area_config``) by `sync_config`, so that an ingest's `derive` needs no configuration; when it
changes, every stored area value is recomputed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from envwatch.standards import air_stats
from envwatch.standards import area as rules

if TYPE_CHECKING:
    from envwatch.config import LoadedConfig
    from envwatch.store import Store

LEVELS = ("city", "district", "group")

_HOUR_COLUMNS = (
    "level",
    "area",
    "period_end",
    "rules",
    *(c for v in rules.HOURLY_VALUES for c in (v, f"{v}_exact")),
    "aqi",
    "category",
    "primary_pollutant",
    "n_stations",
)
_DAY_COLUMNS = (
    "level",
    "area",
    "date",
    "rules",
    *(c for v in rules.DAILY_VALUES for c in (v, f"{v}_exact", f"n_valid_{v}")),
    *rules.DAILY_AQI_COLUMNS,
    "n_stations",
)

DEFAULT_CONFIG: dict[str, Any] = {
    "region": None,
    "city_control_levels": ["国控"],
    "control_levels": ["国控", "省控", "市控"],
    "groups": {},
}


# Autonomous prefectures the national lists write with two characters; every other two-character
# name ending in 州 is a city (台州 -> 台州市).
_SHORT_PREFECTURES = frozenset({"克州", "博州"})


def city_name(city: Any) -> Any:
    """A city's name in full, as the MEE publishes it: 宁波 -> 宁波市, 台州 -> 台州市; the
    prefectures and leagues (湘西州, 克州, 兴安盟, 和田地区) stay as they are."""
    if not isinstance(city, str) or not city:
        return None
    if city.endswith(("市", "盟", "地区")) or city in _SHORT_PREFECTURES:
        return city
    if city.endswith("州") and len(city) >= 3:
        return city
    return city + "市"


# -- configuration ---------------------------------------------------------------------------


def ranking_areas(loaded: LoadedConfig) -> list[tuple[str, str]]:
    """The region city's 辖区 a ranking lists, as (level, area): its districts and counties by
    boundary (cnmaps), then the configured groups (functional areas such as 大榭)."""
    from envwatch import geo

    region = loaded.config.region
    districts = geo.district_boundaries(region.province, region.city)["district"].tolist()
    return [("district", d) for d in districts] + [
        ("group", g.name) for g in loaded.config.areas.groups
    ]


def sync_config(loaded: LoadedConfig, store: Store) -> bool:
    """Copy the membership rules of the configuration into the store; recompute every stored
    area value when they changed. Returns True when they changed."""
    cfg = loaded.config
    sites: dict[str, dict[str, Any]] = {
        s.id: {
            "membership": [p.model_dump() for p in s.membership] if s.membership else None,
            "background": s.background,
            "control_level": s.control_level,
        }
        for s in cfg.sites
        if s.kind == "air"
    }
    conf = {
        "region": cfg.region.model_dump(),
        "city_control_levels": list(cfg.areas.city_control_levels),
        "control_levels": list(cfg.areas.control_levels),
        "groups": {g.name: list(g.stations) for g in cfg.areas.groups},
        "membership": {
            sid: [p.model_dump() for p in periods] for sid, periods in cfg.areas.membership.items()
        },
    }
    text = json.dumps([conf, sites], ensure_ascii=False, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    if store.get_meta("area_config_sha256") == digest:
        return False
    with store.transaction():
        store.conn.executemany(
            "UPDATE sites SET membership = ?, background = ?, control_level = ? WHERE site_id = ?",
            [
                (
                    None if v["membership"] is None else json.dumps(v["membership"]),
                    int(v["background"]),
                    v["control_level"],
                    k,
                )
                for k, v in sites.items()
            ],
        )
        store.set_meta("area_config", json.dumps(conf, ensure_ascii=False))
        store.set_meta("area_config_sha256", digest)
        recompute_all(store, loaded.config.timezone)
    return True


def stored_config(store: Store) -> dict[str, Any]:
    """The membership rules `sync_config` copied into the store (defaults before any)."""
    text = store.get_meta("area_config")
    return {**DEFAULT_CONFIG, **(json.loads(text) if text else {})}


def membership_table(sites: pd.DataFrame, conf: dict[str, Any] | None = None) -> pd.DataFrame:
    """Dated membership rows (site_id, valid_from, valid_until, role) of the registry's air
    stations: their `membership` periods, or 'background' always for ``background``; then
    ``areas.membership`` of the configuration (`conf`) for stations not in its sites."""
    extra: dict[str, list[dict[str, Any]]] = (conf or {}).get("membership") or {}
    rows: list[tuple[Any, ...]] = []
    for sid, mem, bg in zip(
        sites["site_id"].tolist(),
        sites["membership"].tolist() if "membership" in sites else [None] * len(sites),
        sites["background"].tolist(),
        strict=True,
    ):
        periods = extra.get(sid) or (json.loads(mem) if isinstance(mem, str) and mem else None)
        if periods:
            for p in periods:
                rows.append((sid, p.get("valid_from"), p.get("until"), p.get("role", "counts")))
        elif bg:
            rows.append((sid, None, None, "background"))
    out = pd.DataFrame(rows, columns=["site_id", "valid_from", "valid_until", "role"])
    out["valid_from"] = pd.to_datetime(out["valid_from"])
    out["valid_until"] = pd.to_datetime(out["valid_until"])
    return out


def area_members(sites: pd.DataFrame, conf: dict[str, Any]) -> pd.DataFrame:
    """(level, area, site_id) of every area, by control level (membership dates not applied)."""
    air = sites.loc[sites["kind"] == "air"].copy()
    level = air["control_level"].where(air["control_level"].notna(), "国控")
    city = air["city"].map(city_name)
    parts = []
    in_city = level.isin(conf["city_control_levels"]) & city.notna()
    parts.append(
        pd.DataFrame({"level": "city", "area": city[in_city], "site_id": air["site_id"][in_city]})
    )
    region = conf.get("region") or {}
    ranked = level.isin(conf["control_levels"])
    in_district = ranked & air["district"].notna()
    if region.get("city"):
        in_district &= city == city_name(region["city"])
    parts.append(
        pd.DataFrame(
            {
                "level": "district",
                "area": air["district"][in_district],
                "site_id": air["site_id"][in_district],
            }
        )
    )
    ranked_ids = set(air.loc[ranked, "site_id"])
    for name, stations in (conf.get("groups") or {}).items():
        ids = [s for s in stations if s in ranked_ids]
        parts.append(pd.DataFrame({"level": "group", "area": name, "site_id": ids}))
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"level": object, "area": object, "site_id": object}).drop_duplicates()


# -- derivation ------------------------------------------------------------------------------


def derive(
    store: Store, site_ids: Sequence[str], first: pd.Timestamp, last: pd.Timestamp, tz: str
) -> int:
    """Recompute the area values of the areas `site_ids` belong to, for the natural days
    first … last (local dates); returns the area-days written."""
    if len(site_ids) == 0:
        return 0
    conf = stored_config(store)
    sites = store.sites("air")
    members = area_members(sites, conf)
    touched = members.loc[
        members["site_id"].isin(set(site_ids)), ["level", "area"]
    ].drop_duplicates()
    if touched.empty:
        return 0
    members = members.merge(touched, on=["level", "area"], how="inner")
    return _compute(store, members, membership_table(sites, conf), first, last, tz, touched)


def recompute_all(store: Store, tz: str) -> int:
    """Recompute every area value from the stored station values (after a change of the
    membership rules); removes the values of areas that no longer exist."""
    row = store.conn.execute("SELECT min(date), max(date) FROM air_day").fetchone()
    with store.transaction():
        store.conn.execute("DELETE FROM area_hour")
        store.conn.execute("DELETE FROM area_day")
    if row is None or row[0] is None:
        return 0
    sites = store.sites("air")
    conf = stored_config(store)
    members = area_members(sites, conf)
    membership = membership_table(sites, conf)
    touched = members[["level", "area"]].drop_duplicates()
    first, last = pd.Timestamp(row[0]), pd.Timestamp(row[1])
    total = 0
    # a month at a time keeps memory flat on a national store
    for start in pd.date_range(first.to_period("M").start_time, last, freq="MS"):
        end = min(last, start + pd.offsets.MonthEnd(0))
        total += _compute(store, members, membership, max(start, first), end, tz, touched)
    return total


def _compute(
    store: Store,
    members: pd.DataFrame,
    membership: pd.DataFrame,
    first: pd.Timestamp,
    last: pd.Timestamp,
    tz: str,
    touched: pd.DataFrame,
) -> int:
    lo = int(pd.Timestamp(first).tz_localize(tz).timestamp())
    hi = int((pd.Timestamp(last) + pd.Timedelta(days=1)).tz_localize(tz).timestamp())
    ids = sorted(members["site_id"].unique().tolist())
    hourly = store.air_hours(ids, lo, hi)
    days = pd.date_range(first, last, freq="D")
    # every (area, station, day) and whether the station counts that day
    grid = members.merge(pd.DataFrame({"date": days}), how="cross")
    grid = grid.loc[rules.counting(grid["site_id"], grid["date"], membership)]
    out_days = 0
    with store.transaction():
        _delete(store, touched, lo, hi, first, last)
        if grid.empty:
            return 0
        hourly["time_local"] = _local(hourly["period_end"], tz)
        hourly["date"] = (hourly["time_local"] - pd.Timedelta(hours=1)).dt.normalize()
        counts = rules.counting(hourly["site_id"], hourly["date"], membership)
        area_h = rules.area_hourly(hourly.loc[counts], members)
        if not area_h.empty:
            local = pd.DatetimeIndex(area_h["time_local"]).tz_localize(tz)
            area_h["period_end"] = local.tz_convert("UTC").as_unit("s").asi8
            store.replace_rows("area_hour", area_h, _HOUR_COLUMNS)
        station_days = air_stats.daily_stats(hourly.drop(columns=["date", "period_end"]))
        area_d = rules.area_daily(station_days, grid, area_h)
        if not area_d.empty:
            area_d["date"] = pd.to_datetime(area_d["date"]).dt.strftime("%Y-%m-%d")
            area_d["valid"] = area_d["valid"].astype(int)
            store.replace_rows("area_day", area_d, _DAY_COLUMNS)
            out_days = len(area_d)
    return out_days


def _delete(
    store: Store, touched: pd.DataFrame, lo: int, hi: int, first: pd.Timestamp, last: pd.Timestamp
) -> None:
    pairs = json.dumps(touched[["level", "area"]].to_numpy().tolist(), ensure_ascii=False)
    store.conn.execute(
        "DELETE FROM area_hour WHERE period_end > ? AND period_end <= ? AND (level, area) IN "
        "(SELECT value ->> 0, value ->> 1 FROM json_each(?))",
        (lo, hi, pairs),
    )
    store.conn.execute(
        "DELETE FROM area_day WHERE date BETWEEN ? AND ? AND (level, area) IN "
        "(SELECT value ->> 0, value ->> 1 FROM json_each(?))",
        (pd.Timestamp(first).strftime("%Y-%m-%d"), pd.Timestamp(last).strftime("%Y-%m-%d"), pairs),
    )


def _local(period_end: pd.Series, tz: str) -> pd.Series:
    return pd.to_datetime(period_end, unit="s", utc=True).dt.tz_convert(tz).dt.tz_localize(None)
