"""Period figures of an area or a station, and the ranking of the city's areas (HJ 663).

What the monthly and annual bulletins (月报, 年报) publish, computed from daily values:

- an **area** (``宁波市``, ``镇海区``, a configured group such as ``大榭``): its daily values in
  the store (table ``area_day``, view ``area_daily``), at full precision (``*_exact``);
- a **station** (``1236A`` or ``龙赛医院``): its own daily values (``air_daily``).

Periods are local calendar dates, both ends included: ``since`` … ``until``, or a ``period``
(``2019-04`` a month, ``2019`` a year, ``2019-W14`` an ISO week; the current one runs to
today). Figures are rounded once, half to even, as the bulletins publish them
(`envwatch.standards.air_stats.FIGURE_DECIMALS`): good-day ratio to 0.1 %, concentrations
(µg/m³) to integers, CO (mg/m³) to 0.1, the composite index (综合指数) to 0.01.

The ranking lists every ranking area of the city (its districts and the configured groups)
with its good-day ratio and composite index and their ranks (competition ranking: ties share
the better rank); areas without valid days are listed and not ranked.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from envwatch.config import LoadedConfig
from envwatch.errors import UsageError
from envwatch.standards import air_stats
from envwatch.standards.aqi import round_half_even
from envwatch.store import Store

__all__ = [
    "JSON_KEYS",
    "RANK_COLUMNS",
    "RankingArea",
    "area_figures",
    "area_stats",
    "format_rank",
    "format_stats",
    "rank",
    "ranking_areas",
    "resolve_period",
]

POLLUTANT_LABELS = {
    "pm25": "PM2.5",
    "pm10": "PM10",
    "so2": "SO2",
    "no2": "NO2",
    "co": "CO",
    "o3": "O3",
}
"""Pollutant keys of ``exceedance_days`` and ``primary_days`` and how staff write them."""

JSON_KEYS = (
    "area",
    "level",
    "since",
    "until",
    "n_days",
    "n_valid_days",
    "excellent",
    "good",
    "light",
    "moderate",
    "heavy",
    "severe",
    "good_day_ratio",
    "pm25",
    "pm10",
    "so2",
    "no2",
    "co_p95",
    "o3_8h_p90",
    "comprehensive_index",
    "exceedance_days",
    "primary_days",
)
"""The keys of one area's figures in ``envwatch stats --format json``, in order."""

RANK_COLUMNS = ("area", "level", *air_stats.RANK_FIGURES, "stations")
"""Columns of `rank` (``stations``: the ids of the stations behind the area's figure)."""

TABLE_HEADERS = {
    "area": "区域",
    "level": "级别",
    "n_days": "天数",
    "n_valid_days": "有效天数",
    "excellent": "优",
    "good": "良",
    "light": "轻度污染",
    "moderate": "中度污染",
    "heavy": "重度污染",
    "severe": "严重污染",
    "good_day_ratio": "优良率(%)",
    "pm25": "PM2.5",
    "pm10": "PM10",
    "so2": "SO2",
    "no2": "NO2",
    "co_p95": "CO-95per",
    "o3_8h_p90": "O3-8h-90per",
    "comprehensive_index": "综合指数",
    "rank_good_day_ratio": "优良率排名",
    "rank_comprehensive_index": "综合指数排名",
    "stations": "参与统计站点",
}
"""Chinese column headers of the table form, as a 月报 writes them."""

LEVEL_LABELS = {"city": "市", "district": "区县", "group": "功能区", "station": "站点"}

_DAILY_VALUES = ("pm25", "pm10", "so2", "no2", "co", "o3_1h_max", "o3_8h_max")


# -- periods ---------------------------------------------------------------------------------------


def resolve_period(
    period: str | None, since: date | None, until: date | None, today: date
) -> tuple[date, date]:
    """The dates ``since`` … ``until`` of ``--period`` or of ``--since``/``--until``.

    A period is ``2019`` (a year), ``2019-04`` (a month) or ``2019-W14`` (an ISO week); the
    current one ends today. Without a period both dates are needed.
    """
    from envwatch.scoring import parse_period

    if period is not None:
        if since is not None or until is not None:
            raise UsageError("give either --period or --since/--until, not both")
        p = parse_period(period, today)
        return p.start, p.end
    if since is None or until is None:
        raise UsageError(
            "give the period: --period 2019-04 (or 2019, 2019-W14), or --since D --until D"
        )
    if until < since:
        raise UsageError(f"--until {until} is before --since {since}")
    return since, until


# -- reading daily values ------------------------------------------------------------------------


def _has_table(store: Store, name: str) -> bool:
    row = store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = ? AND type IN ('table', 'view')", (name,)
    ).fetchone()
    return row is not None


def _daily_values(frame: pd.DataFrame, published: bool = False) -> pd.DataFrame:
    """Daily values at full precision (``<value>_exact`` where the store keeps it), or with
    `published` as published: rounded half to even, integers, CO to 0.1."""
    out = frame.copy()
    for col in _DAILY_VALUES:
        has_exact = f"{col}_exact" in out.columns
        if has_exact and not published:
            out[col] = out[f"{col}_exact"]
        if col in out.columns:
            values = pd.to_numeric(out[col], errors="coerce").astype("float64")
            if published and not has_exact:  # air_day keeps full precision in its columns
                values = pd.Series(
                    round_half_even(values.to_numpy(), 1 if col == "co" else 0), index=out.index
                )
            out[col] = values
    out["date"] = pd.to_datetime(out["date"])
    out["valid"] = out["valid"].fillna(0).astype(bool)
    return out


def daily_values(
    store: Store,
    names: Sequence[str],
    since: date | str,
    until: date | str,
    *,
    of: str = "area",
    published: bool = False,
) -> pd.DataFrame:
    """Daily values over since … until of areas (`of` ``area``: table ``area_day``, `names` are
    area names) or stations (``station``: ``air_day``, site ids): full precision, or with
    `published` as the views ``area_daily`` and ``air_daily`` publish them."""
    table, key = ("air_day", "site_id") if of == "station" else ("area_day", "area")
    if not names or not _has_table(store, table):
        keys = [key] if of == "station" else ["level", key]
        return pd.DataFrame(columns=[*keys, "date", *_DAILY_VALUES, "valid"])
    marks = ", ".join("?" * len(names))
    df = pd.read_sql_query(
        f"SELECT * FROM {table} WHERE {key} IN ({marks}) AND date >= ? AND date <= ? "
        f"ORDER BY {key}, date",
        store.conn,
        params=[*names, str(since), str(until)],
    )
    return _daily_values(df, published)


# -- which area is meant ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What ``--area`` names: an area of ``area_day`` or a station."""

    name: str  # the area's name, or the station's id
    level: str  # city, district, a group level, or station
    label: str  # as shown: the area's name, or "1236A 龙赛医院"


def _known_areas(store: Store) -> dict[str, str]:
    """Area name -> level: the areas with daily values, the cities and districts of the air
    sites and the configured groups (an area without any data yet is still an area)."""
    known: dict[str, str] = {}
    sites = store.sites("air")
    for col, level in (("district", "district"), ("city", "city")):
        if col in sites.columns:
            for name in sites[col].dropna().astype(str):
                known.setdefault(name, level)
    text = store.get_meta("area_config")
    for name in (json.loads(text) if text else {}).get("groups") or {}:
        known[str(name)] = "group"
    if _has_table(store, "area_day"):
        for name, level in store.conn.execute("SELECT DISTINCT area, level FROM area_day"):
            known[str(name)] = str(level)
    return known


def resolve_areas(store: Store, names: Sequence[str]) -> list[Target]:
    """Areas or stations for the names given to ``--area``; UsageError with a "did you mean"."""
    known = _known_areas(store)
    sites = store.sites("air")
    by_id = dict(zip(sites["site_id"].astype(str), sites["name"].astype(str), strict=True))
    by_name: dict[str, list[str]] = {}
    for sid, nm in by_id.items():
        by_name.setdefault(nm, []).append(sid)
    out: list[Target] = []
    for raw in dict.fromkeys(names):
        name = raw.strip()
        if name in known:
            out.append(Target(name, known[name], name))
        elif name in by_id:
            out.append(Target(name, "station", f"{name} {by_id[name]}"))
        elif name in by_name:
            out += [Target(sid, "station", f"{sid} {name}") for sid in by_name[name]]
        else:
            choices = [*known, *by_id, *by_name]
            close = difflib.get_close_matches(name, choices, n=3, cutoff=0.4)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UsageError(
                f"--area '{name}': no area or air station of that name in the store{hint} "
                "(areas: the city, its districts and the configured groups; stations: id or name)"
            )
    return out


# -- figures ---------------------------------------------------------------------------------------


def _figures(
    daily: pd.DataFrame,
    by: str,
    since: date,
    until: date,
    denominators: Mapping[str, Mapping[str, float]] | None,
    published: bool = False,
) -> pd.DataFrame:
    if daily.empty:
        columns = [by, *(c for c in _no_data_row("", since, until) if c != "area")]
        return pd.DataFrame(columns=columns)
    return air_stats.period_figures(
        daily, since, until, by=by, denominators=denominators, index_from_published=published
    )


def area_figures(
    store: Store,
    areas: Sequence[str],
    since: date | str,
    until: date | str,
    *,
    denominators: Mapping[str, Mapping[str, float]] | None = None,
    published: bool = False,
) -> pd.DataFrame:
    """`air_stats.period_figures` (rounded as published) of the named areas of ``area_day``,
    one row per area with daily values in since … until; areas without any are left out."""
    start, end = pd.Timestamp(since).date(), pd.Timestamp(until).date()
    days = daily_values(store, areas, start, end, published=published)
    return _figures(days, "area", start, end, denominators, published)


def _no_data_row(name: str, since: date, until: date) -> dict[str, Any]:
    row: dict[str, Any] = {"area": name, "n_days": (until - since).days + 1, "n_valid_days": 0}
    for col in air_stats.FIGURE_CATEGORIES.values():
        row[col] = 0
    for col in air_stats.FIGURE_DECIMALS:
        row[col] = np.nan
    for p in air_stats.FIGURE_POLLUTANTS:
        row[f"exceedance_{p}"] = 0
        row[f"primary_{p}"] = 0
    row["n_pm25"] = row["polluted_days_pm25"] = row["polluted_days_o3"] = 0
    row["validity_note"] = "no daily values"
    return row


STATS_COLUMNS = (
    *JSON_KEYS[:-2],
    *(f"exceedance_days_{p}" for p in air_stats.FIGURE_POLLUTANTS),
    *(f"primary_days_{p}" for p in air_stats.FIGURE_POLLUTANTS),
    "validity_note",
)
"""Columns of `area_stats`: the JSON keys, with the per-pollutant objects as flat columns."""


def area_stats(
    store: Store,
    areas: str | Sequence[str],
    since: date | str,
    until: date | str,
    *,
    denominators: Mapping[str, Mapping[str, float]] | None = None,
    published: bool = False,
) -> pd.DataFrame:
    """HJ 663 period figures of areas or stations over since … until (local dates, inclusive).

    `areas`: area names (``宁波市``, ``镇海区``, a group) or air stations (id or name). One row
    per area or station, in the order given, with `STATS_COLUMNS`: level (``city``,
    ``district``, a group's level, or ``station``), since and until (``YYYY-MM-DD``), the day
    counts, good_day_ratio (%), pm25 pm10 so2 no2 (period means, µg/m³), co_p95 (mg/m³),
    o3_8h_p90 (µg/m³), comprehensive_index, exceedance_days_<p> and primary_days_<p> for p in
    pm25 pm10 so2 no2 co o3, and validity_note (HJ 663 coverage rules not met). Rounded once, as
    published. An area without data in the period has zero days and NaN figures.

    The figures come from the daily values at full precision and are rounded once. With
    `published`, they come from the daily values as published (integers, CO 0.1) and the
    composite index from the six published figures: the way to check against a bulletin made
    like that.
    """
    start, end = pd.Timestamp(since).date(), pd.Timestamp(until).date()
    if end < start:
        raise UsageError(f"until {end} is before since {start}")
    targets = resolve_areas(store, [areas] if isinstance(areas, str) else list(areas))
    area_names = [t.name for t in targets if t.level != "station"]
    site_ids = [t.name for t in targets if t.level == "station"]
    parts = []
    if area_names:
        days = daily_values(store, area_names, start, end, published=published)
        fig = _figures(days, "area", start, end, denominators, published)
        parts.append(fig)
    if site_ids:
        days = daily_values(store, site_ids, start, end, of="station", published=published)
        fig = _figures(days, "site_id", start, end, denominators, published)
        parts.append(fig.rename(columns={"site_id": "area"}))
    figures = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["area"])
    by_name = {str(r["area"]): r for r in figures.to_dict("records")}
    rows = []
    for t in targets:
        row = dict(by_name.get(t.name) or _no_data_row(t.name, start, end))
        row["area"] = t.name if t.level != "station" else t.label
        row["level"] = t.level
        row["since"] = start.isoformat()
        row["until"] = end.isoformat()
        for p in air_stats.FIGURE_POLLUTANTS:
            row[f"exceedance_days_{p}"] = row.pop(f"exceedance_{p}")
            row[f"primary_days_{p}"] = row.pop(f"primary_{p}")
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(STATS_COLUMNS)).drop_duplicates("area")
    counts = [c for c in STATS_COLUMNS if c.startswith(("n_", "exceedance_", "primary_"))]
    counts += list(air_stats.FIGURE_CATEGORIES.values())
    out[counts] = out[counts].astype("int64")
    for col in air_stats.FIGURE_DECIMALS:
        out[col] = out[col].astype("float64")
    return out


# -- ranking ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankingArea:
    """One of the city's ranking areas (辖区): a district, or a group of stations."""

    name: str
    level: str = "district"
    stations: tuple[str, ...] = field(default_factory=tuple)


def ranking_areas(
    store: Store,
    districts: Sequence[str],
    since: date | str,
    until: date | str,
) -> list[RankingArea]:
    """The city's ranking areas (辖区): `districts` (the city's, e.g. from its boundaries) and
    the configured groups, each with the stations behind its figure: those that count in its
    values on at least one day of since … until and have daily values in that period.

    Membership is read as the store's area values were computed (the configuration's
    ``areas:`` and the sites' control levels and membership dates, copied into the store):
    stations of the ranked control levels, background and stopped ones left out by date.
    """
    from envwatch import area
    from envwatch.standards import area as area_rules

    text = store.get_meta("area_config")
    conf = {**area.DEFAULT_CONFIG, **(json.loads(text) if text else {})}
    sites = store.sites("air")
    members = area.area_members(sites, conf)
    members = members.loc[members["level"].isin(["district", "group"])]
    days = pd.date_range(pd.Timestamp(since), pd.Timestamp(until), freq="D")
    grid = members.merge(pd.DataFrame({"date": days}), how="cross")
    membership = area.membership_table(sites, conf)
    counts = area_rules.counting(grid["site_id"], grid["date"], membership)
    reported = {
        str(r[0])
        for r in store.conn.execute(
            "SELECT DISTINCT site_id FROM air_day WHERE date >= ? AND date <= ?",
            (str(pd.Timestamp(since).date()), str(pd.Timestamp(until).date())),
        )
    }
    counts &= grid["site_id"].isin(reported).to_numpy()
    counted = grid.loc[counts].drop_duplicates(["level", "area", "site_id"]).sort_values("site_id")
    by_area: dict[tuple[str, str], tuple[str, ...]] = {}
    for level, name, sid in counted[["level", "area", "site_id"]].itertuples(index=False):
        by_area[(level, name)] = (*by_area.get((level, name), ()), str(sid))
    out = [RankingArea(d, "district", by_area.get(("district", d), ())) for d in districts]
    out += [
        RankingArea(g, "group", by_area.get(("group", g), ())) for g in conf.get("groups") or {}
    ]
    return out


def city_districts(loaded: LoadedConfig) -> list[str]:
    """The districts of the configuration's region city (cnmaps boundaries)."""
    from envwatch import area

    return [name for level, name in area.ranking_areas(loaded) if level == "district"]


def rank(
    store: Store,
    areas: Sequence[RankingArea],
    since: date | str,
    until: date | str,
    *,
    denominators: Mapping[str, Mapping[str, float]] | None = None,
    published: bool = False,
) -> pd.DataFrame:
    """Rank `areas` by good-day ratio and by composite index over since … until.

    One row per area (`RANK_COLUMNS` plus ``station_names`` and ``no_data``), the figures
    rounded as published, ranks by competition ranking on those published values (ties share
    the better rank); areas without valid days are listed last, without ranks. ``stations``
    lists the ids of the stations behind each area's figure.
    """
    start, end = pd.Timestamp(since).date(), pd.Timestamp(until).date()
    names = [a.name for a in areas]
    days = daily_values(store, names, start, end, published=published)
    figures = _figures(days, "area", start, end, denominators, published)
    ranked = air_stats.rank_areas(figures, names)
    ranked = ranked.loc[ranked["area"].isin(names)].reset_index(drop=True)
    sites = store.sites("air")
    site_names = dict(zip(sites["site_id"].astype(str), sites["name"].astype(str), strict=True))
    info = {a.name: a for a in areas}
    ranked["level"] = [info[n].level for n in ranked["area"]]
    ranked["stations"] = [list(info[n].stations) for n in ranked["area"]]
    ranked["station_names"] = [
        [site_names.get(s, s) for s in info[n].stations] for n in ranked["area"]
    ]
    return ranked[[*RANK_COLUMNS, "station_names", "no_data"]]


# -- output ----------------------------------------------------------------------------------------


def _number(v: Any, decimals: int | None = None) -> Any:
    """A JSON value: None for missing; an int for counts and integer figures, else a float."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return None
        return int(v) if decimals == 0 else float(v)
    return v


def _decimals(col: str) -> int | None:
    return air_stats.FIGURE_DECIMALS.get(col)


def _published(df: pd.DataFrame) -> pd.DataFrame:
    """Integer figures (concentrations rounded to integers) as nullable integers, for CSV."""
    out = df.copy()
    for col, dec in air_stats.FIGURE_DECIMALS.items():
        if dec == 0 and col in out.columns:
            out[col] = out[col].astype("Float64").round().astype("Int64")
    return out


def stats_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of `area_stats` as JSON objects with exactly `JSON_KEYS` (per-pollutant objects)."""
    out = []
    for r in df.to_dict("records"):
        rec = {k: _number(r[k], _decimals(k)) for k in JSON_KEYS[:-2]}
        rec["exceedance_days"] = {
            p: int(r[f"exceedance_days_{p}"]) for p in air_stats.FIGURE_POLLUTANTS
        }
        rec["primary_days"] = {p: int(r[f"primary_days_{p}"]) for p in air_stats.FIGURE_POLLUTANTS}
        out.append(rec)
    return out


def _fmt(v: Any, decimals: int) -> str:
    v = _number(v)
    if v is None:
        return "—"
    return f"{float(v):.{decimals}f}"


def format_stats(df: pd.DataFrame, fmt: str) -> str:
    """`area_stats` rows as ``table`` (Chinese headers, as a 月报), ``csv`` or ``json``."""
    if fmt == "json":
        return json.dumps(stats_records(df), ensure_ascii=False, indent=2)
    if fmt == "csv":
        return _published(df.drop(columns=["validity_note"])).to_csv(index=False).rstrip("\n")
    from envwatch.query import format_table

    shown = pd.DataFrame({TABLE_HEADERS["area"]: df["area"]})
    shown[TABLE_HEADERS["level"]] = df["level"].map(lambda v: LEVEL_LABELS.get(v, v))
    for col in ("n_days", "n_valid_days", *air_stats.FIGURE_CATEGORIES.values()):
        shown[TABLE_HEADERS[col]] = df[col]
    for col, dec in air_stats.FIGURE_DECIMALS.items():
        shown[TABLE_HEADERS[col]] = [_fmt(v, dec) for v in df[col]]
    lines = [f"{df['since'].iloc[0]} 至 {df['until'].iloc[0]}" if len(df) else "", ""]
    lines.append(format_table(shown))
    lines.append("")
    lines.append("单位：µg/m³（CO 为 mg/m³）；优良率 = (优 + 良) ÷ 有效天数。")
    for r in df.to_dict("records"):
        exceed = "，".join(
            f"{POLLUTANT_LABELS[p]} {int(r[f'exceedance_days_{p}'])} 天"
            for p in air_stats.FIGURE_POLLUTANTS
            if r[f"exceedance_days_{p}"]
        )
        primary = "，".join(
            f"{POLLUTANT_LABELS[p]} {int(r[f'primary_days_{p}'])} 天"
            for p in air_stats.FIGURE_POLLUTANTS
            if r[f"primary_days_{p}"]
        )
        lines.append(
            f"{r['area']}：超标天数 {exceed or '无'}；首要污染物天数 {primary or '无'}"
            + (f"；数据不足（HJ 663）：{r['validity_note']}" if r["validity_note"] else "")
        )
    return "\n".join(lines).lstrip("\n")


def rank_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of `rank` as JSON objects (``stations`` a list of ids)."""
    cols = [*RANK_COLUMNS, "station_names"]
    return [{k: _number(r[k], _decimals(k)) for k in cols} for r in df.to_dict("records")]


def format_rank(df: pd.DataFrame, fmt: str, since: date, until: date) -> str:
    """`rank` rows as ``table`` (Chinese headers), ``csv`` or ``json``."""
    if fmt == "json":
        return json.dumps(rank_records(df), ensure_ascii=False, indent=2)
    if fmt == "csv":
        out = _published(df[list(RANK_COLUMNS)])
        out["stations"] = [";".join(s) for s in df["stations"]]
        return out.to_csv(index=False).rstrip("\n")
    from envwatch.query import format_table

    shown = pd.DataFrame({TABLE_HEADERS["area"]: df["area"]})
    shown[TABLE_HEADERS["n_valid_days"]] = df["n_valid_days"]
    shown[TABLE_HEADERS["good_day_ratio"]] = [_fmt(v, 1) for v in df["good_day_ratio"]]
    shown[TABLE_HEADERS["rank_good_day_ratio"]] = [
        "无数据" if pd.isna(v) else str(int(v)) for v in df["rank_good_day_ratio"]
    ]
    shown[TABLE_HEADERS["comprehensive_index"]] = [_fmt(v, 2) for v in df["comprehensive_index"]]
    shown[TABLE_HEADERS["rank_comprehensive_index"]] = [
        "—" if pd.isna(v) else str(int(v)) for v in df["rank_comprehensive_index"]
    ]
    shown[TABLE_HEADERS["pm25"]] = [_fmt(v, 0) for v in df["pm25"]]
    shown[TABLE_HEADERS["stations"]] = ["、".join(n) or "—" for n in df["station_names"]]
    header = f"{since} 至 {until}，{len(df)} 个区域（排名相同者并列）"
    return header + "\n\n" + format_table(shown)
