"""envwatch from Python: the store's public views as pandas DataFrames with proper dtypes.

Open a store read-only with `envwatch.open` and ask for a view by site and date range::

    >>> import envwatch
    >>> ew = envwatch.open("envwatch.db")
    >>> days = ew.air_daily(["1236A"], "2019-01-01", "2019-01-02")
    >>> days[["site_name", "aqi", "category"]].values.tolist()
    [['龙赛医院', 54, '良'], ['龙赛医院', 83, '良']]
    >>> str(days["date"].dtype), str(days["aqi"].dtype), str(days["valid"].dtype)
    ('datetime64[us]', 'Int64', 'boolean')

Conventions (the same everywhere in this module):

- **Time**: ``time_local`` is a tz-naive ``datetime64`` in the store's local time zone
  (Asia/Shanghai unless `open` is told otherwise). Hourly values carry the *end* of their hour
  (hour-ending, as CNEMC publishes them): 01:00 is the mean of 00:00-01:00, and the 24th hour
  of a day is 00:00 of the next day. Water samples carry their sampling time. ``period_end``
  keeps the exact instant as Unix seconds (UTC). Ledger times (``started_at`` ...) are
  tz-aware UTC. ``date`` columns are ``datetime64`` at midnight; ``period`` of
  `water_periods` is a monthly ``Period``.
- **Date ranges**: `start` and `end` are local dates (``"2026-11-01"``, a ``date`` or a
  ``Timestamp`` at midnight), both inclusive, either may be left out. For hourly data a day is
  the natural day of HJ 663: the hours labelled 01:00 … 24:00 (so ``end="2026-11-30"`` includes
  the hour labelled 2026-12-01 00:00).
- **Sites**: a list of site ids or names (``["1236A", "龙赛医院"]``), or one string; ``None``
  for every site. An unknown site raises `envwatch.errors.UsageError` with a suggestion.
- **Units**: air concentrations in µg/m³, CO in mg/m³; water items in mg/L (pH none, water
  temperature °C, fecal coliform per litre). ``COLUMNS`` lists every column with its Chinese
  label and unit; the Excel export and Datasette show the same labels.
- **Dtypes**: text ``string``, numbers ``float64``, counts and classes ``Int64``, flags
  ``boolean`` (all nullable); AQI ``category`` and water ``class_label`` are ordered categoricals
  (优 < 良 < … and Ⅰ < Ⅱ < … < 劣Ⅴ), so ``df[df.category > "良"]`` works.

More examples (they run in the tests on the bundled samples)::

    >>> hours = ew.air_hourly("龙赛医院", "2019-01-01", "2019-01-01")
    >>> len(hours), hours["time_local"].min(), hours["time_local"].max()
    (24, Timestamp('2019-01-01 01:00:00'), Timestamp('2019-01-02 00:00:00'))
    >>> water = ew.water_samples(start="2026-08-01", end="2026-08-31", kind="lab")
    >>> water[["site_name", "class_label", "nh3n"]].values.tolist()
    [['四灶浦闸', 'Ⅴ', 1.58], ['大嵩', 'Ⅲ', 0.41], ['梁桥', 'Ⅲ', 0.86]]
    >>> months = ew.water_periods(["梁桥"], "2026-07-01", "2026-08-31", kind="lab")
    >>> months[["period", "class_label"]].astype(str).values.tolist()
    [['2026-07', 'Ⅲ'], ['2026-08', 'Ⅲ']]
    >>> ew.scorecard().empty   # filled by `envwatch score`
    True
    >>> ew.canned("exceedance_days", site="1235A")[["站点名称", "超标天数"]].values.tolist()
    [['万里学院', 1]]
    >>> ew.close()
"""

from __future__ import annotations

import difflib
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict, Unpack
from zoneinfo import ZoneInfo

import pandas as pd

from envwatch import read
from envwatch.errors import StoreError, UsageError
from envwatch.read import DateLike
from envwatch.schema import RELATIONS_BY_NAME, Column, Table
from envwatch.standards.aqi import CATEGORIES
from envwatch.standards.water import CLASS_LABELS
from envwatch.store import Store

Sites = str | Sequence[str] | None
"""Site ids or names (one string or a list); None for every site."""
Day = DateLike | None
"""A local date (``"2026-11-01"``, a ``date``, a ``Timestamp`` at midnight); None: open."""


class AreaFilter(TypedDict, total=False):
    """Which area values `StoreReader.area_hourly` and `area_daily` return (keywords only)."""

    level: str | None
    """``city``, ``district`` or ``group``; None: every level."""
    area: Sites
    """Area names, e.g. 宁波市, 镇海区, 大榭; None: every area."""
    since: Day
    """First natural day (hours 01:00 … 24:00)."""
    until: Day
    """Last natural day."""
    exact: bool
    """Also the ``*_exact`` columns (full precision)."""


__all__ = ["COLUMNS", "TABLES", "AreaFilter", "Column", "StoreReader", "Table", "open_store"]

AQI_CATEGORY = pd.CategoricalDtype(list(CATEGORIES), ordered=True)
WATER_CLASS = pd.CategoricalDtype(list(CLASS_LABELS.values()), ordered=True)

TABLES: dict[str, Table] = dict(RELATIONS_BY_NAME)
"""The tables envwatch describes, by name (declared in `envwatch.schema`): the public views,
sites, observations, revisions."""

COLUMNS: dict[str, dict[str, Column]] = {
    name: {c.name: c for c in t.columns} for name, t in TABLES.items()
}
"""Column descriptions by table and column name."""


def _typed(table: Table, df: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    """The rows of `table` with the declared dtype for every column (stable across chunks)."""
    missing = [c for c in table.column_names if c not in df.columns]
    extra = [c for c in df.columns if c not in table.column_names]
    if missing or extra:
        raise StoreError(
            f"{table.name}: the store's columns differ from envwatch's declaration "
            f"(missing: {', '.join(missing) or 'none'}; undeclared: {', '.join(extra) or 'none'}); "
            "open the store once with this envwatch's `envwatch init` to update its views, or "
            "use the envwatch that made it"
        )
    out: dict[str, Any] = {}
    for col in table.columns:
        s = df[col.name]
        k = col.kind
        if k == "str":
            out[col.name] = s.astype("string")
        elif k == "float":
            out[col.name] = pd.to_numeric(s, errors="coerce").astype("float64")
        elif k in ("int", "unix"):
            out[col.name] = pd.to_numeric(s, errors="coerce").astype("Int64")
        elif k == "bool":
            out[col.name] = pd.to_numeric(s, errors="coerce").astype("Int64").astype("boolean")
        elif k == "aqi_category":
            out[col.name] = s.astype(object).astype(AQI_CATEGORY)
        elif k == "water_class":
            out[col.name] = s.astype(object).astype(WATER_CLASS)
        elif k == "local":
            # from the exact instant; identical to the views' labels (no DST in China)
            secs = pd.to_numeric(df["period_end"], errors="coerce")
            t = pd.to_datetime(secs, unit="s", utc=True).dt.tz_convert(tz).dt.tz_localize(None)
            out[col.name] = t.astype("datetime64[us]")
        elif k == "date":
            out[col.name] = pd.to_datetime(s, format="ISO8601", errors="coerce").astype(
                "datetime64[us]"
            )
        elif k == "month":
            out[col.name] = pd.to_datetime(s, format="%Y-%m").dt.to_period("M")
        elif k == "utc":
            out[col.name] = pd.to_datetime(s, format="ISO8601", utc=True).astype(
                "datetime64[us, UTC]"
            )
        else:  # pragma: no cover - a typo in TABLES
            raise ValueError(f"unknown column kind {k}")
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


class StoreReader:
    """A store opened read-only; every method returns a DataFrame (see the module docstring).

    Use as a context manager or call `close()`. The store may be written meanwhile (WAL): each
    call sees the data as of its start.
    """

    def __init__(self, path: str | Path, tz: str = "Asia/Shanghai") -> None:
        self.path = Path(path)
        self.tz = ZoneInfo(tz)
        offset = datetime(2000, 1, 1, tzinfo=self.tz).utcoffset() or timedelta(0)
        self._store = Store.readonly(
            self.path, utc_offset_minutes=int(offset.total_seconds() // 60)
        )

    def close(self) -> None:
        """Close the connection."""
        self._store.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<envwatch store {self.path} (read-only)>"

    # -- the views -------------------------------------------------------------------------------

    def air_hourly(self, sites: Sites = None, start: Day = None, end: Day = None) -> pd.DataFrame:
        """Station-hours (view ``air_hourly``): 1-h concentrations (µg/m³, CO mg/m³), AQI
        (HJ 633), category, primary pollutant. ``time_local`` is hour-ending local time; the
        days start … end are natural days (hours 01:00 … 24:00)."""
        return self.table("air_hourly", sites, start, end)

    def air_daily(self, sites: Sites = None, start: Day = None, end: Day = None) -> pd.DataFrame:
        """Station-days (view ``air_daily``): HJ 663 24-h means (µg/m³, CO mg/m³), O3 daily
        maxima, daily AQI; ``date`` is the natural day, ``valid`` whether the AQI's inputs are."""
        return self.table("air_daily", sites, start, end)

    def area_hourly(self, **where: Unpack[AreaFilter]) -> pd.DataFrame:
        """City, district and group hours (view ``area_hourly``): the mean of the counting
        stations' 1-h values rounded as published (integers, CO 0.1), the hourly AQI; `level`
        ``city``, ``district`` or ``group``; `area` e.g. 宁波市, 镇海区, 大榭; since … until are
        natural days (hours 01:00 … 24:00). ``exact=True`` adds ``*_exact`` (full precision)."""
        return self._areas("area_hourly", **where)

    def area_daily(self, **where: Unpack[AreaFilter]) -> pd.DataFrame:
        """City, district and group days (view ``area_daily``): the mean of the counting
        stations' HJ 663 daily values (75 % of them valid, 50 % under four), the O3 1-h maximum
        of the area's hourly series, rounded once as published, the daily AQI and ``valid``;
        ``date`` is the natural day. ``exact=True`` adds ``*_exact`` (full precision)."""
        return self._areas("area_daily", **where)

    def _areas(
        self,
        name: str,
        *,
        level: str | None = None,
        area: Sites = None,
        since: Day = None,
        until: Day = None,
        exact: bool = False,
    ) -> pd.DataFrame:
        if level is not None and level not in ("city", "district", "group"):
            raise UsageError(f"level '{level}' is not city, district or group")
        df = self.table(name, None, since, until)
        if level is not None:
            df = df.loc[df["level"] == level]
        if area is not None:
            wanted = [area] if isinstance(area, str) else list(area)
            known = {r[0] for r in self._store.conn.execute("SELECT DISTINCT area FROM area_day")}
            unknown = [a for a in wanted if a not in known]
            if unknown:
                close = difflib.get_close_matches(unknown[0], sorted(known), n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise UsageError(f"no area '{unknown[0]}' in {self.path}{hint}")
            df = df.loc[df["area"].isin(wanted)]
        df = df.reset_index(drop=True)
        if exact and len(df):
            table, key = (
                ("area_hour", "period_end") if name == "area_hourly" else ("area_day", "date")
            )
            cols = [c for c in self._exact_columns(table)]
            full = pd.read_sql_query(
                f"SELECT level, area, {key}, {', '.join(cols)} FROM {table}", self._store.conn
            )
            if key == "date":
                full["date"] = pd.to_datetime(full["date"]).astype(df["date"].dtype)
            else:
                full["period_end"] = full["period_end"].astype(df["period_end"].dtype)
            df = df.merge(full, on=["level", "area", key], how="left")
        return df

    def _exact_columns(self, table: str) -> list[str]:
        return [
            r[1]
            for r in self._store.conn.execute(f"PRAGMA table_info({table})")
            if r[1].endswith("_exact")
        ]

    def water_samples(
        self, sites: Sites = None, start: Day = None, end: Day = None, kind: str | None = None
    ) -> pd.DataFrame:
        """Section samples (view ``water_samples``): items in mg/L (pH none, temp °C), class
        1-6 (6 = 劣Ⅴ) by GB 3838; ``time_local`` is the local sampling time; `kind` ``auto``
        (national automatic stations) or ``lab`` (staff lab sheets), None for both."""
        return self.table("water_samples", sites, start, end, kind=kind)

    def water_periods(
        self, sites: Sites = None, start: Day = None, end: Day = None, kind: str | None = None
    ) -> pd.DataFrame:
        """Section-months (view ``water_periods``): the class of the month's item means and
        whether it meets the section's target; months overlapping start … end."""
        return self.table("water_periods", sites, start, end, kind=kind)

    def scorecard(
        self, period: str | None = None, start: Day = None, end: Day = None
    ) -> pd.DataFrame:
        """The plan's targets (view ``scorecard``, filled by ``envwatch score``): one row per
        target and period (``2026``, ``2026-11``, ``2026-W47``); `period` picks one, start …
        end keeps periods that overlap those days. Empty (with its columns) before scoring."""
        df = self.table("scorecard", None, start, end)
        if period is not None:
            df = df.loc[df["period"] == period].reset_index(drop=True)
        return df

    def stats(
        self,
        area: str | Sequence[str],
        since: Day = None,
        until: Day = None,
        *,
        period: str | None = None,
    ) -> pd.DataFrame:
        """HJ 633/663 period figures of areas (宁波市, 镇海区, a group) or stations (id or name),
        as the bulletins publish them: one row per area, columns `envwatch.stats.STATS_COLUMNS`
        (days per category, good-day ratio %, means µg/m³, co_p95 mg/m³, o3_8h_p90, composite
        index, exceedance and primary-pollutant days per pollutant). The local days since …
        until (inclusive), or `period` (``2019``, ``2019-04``, ``2019-W14``)."""
        from envwatch import stats as stats_lib

        first = read.local_day(since, "since") if since is not None else None
        last = read.local_day(until, "until") if until is not None else None
        today = datetime.now(self.tz).date()
        first, last = stats_lib.resolve_period(period, first, last, today)
        return stats_lib.area_stats(self._store, area, first, last)

    def runs(self, start: Day = None, end: Day = None) -> pd.DataFrame:
        """Ingest runs (view ``runs``) started on the local days start … end; times in UTC."""
        return self.table("runs", None, start, end)

    def sites(self, kind: str | None = None) -> pd.DataFrame:
        """The site registry (WGS-84 coordinates); `kind` ``air``, ``water`` or ``outfall``."""
        return self.table("sites", kind=kind)

    def observations(
        self,
        sites: Sites = None,
        start: Day = None,
        end: Day = None,
        parameters: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Every stored value, long format: site, parameter code, averaging, time, value in
        the parameter's unit (column ``unit``), flag. Large: filter by site and date."""
        return self.table("observations", sites, start, end, parameters=parameters)

    def revisions(self, sites: Sites = None, start: Day = None, end: Day = None) -> pd.DataFrame:
        """Values a source changed after they were stored, old and new, found by runs that
        started on the local days start … end."""
        return self.table("revisions", sites, start, end)

    # -- SQL -------------------------------------------------------------------------------------

    def query(self, sql: str, **params: Any) -> pd.DataFrame:
        """Read-only SQL with named parameters, e.g. ``query("... where site_id = :s", s="1236A")``."""
        from envwatch.query import run_query

        return run_query(self.path, sql, params)

    def canned(self, name: str, **params: Any) -> pd.DataFrame:
        """A canned query of ``queries.yaml`` by name (``envwatch query --list`` lists them)."""
        from envwatch.query import load_queries, run_canned

        queries = load_queries()
        if name not in queries:
            raise UsageError(f"no canned query '{name}'; there are: {', '.join(queries)}")
        return run_canned(self.path, queries[name], params)

    # -- any table -------------------------------------------------------------------------------

    def table(
        self, name: str, sites: Sites = None, start: Day = None, end: Day = None, **filters: Any
    ) -> pd.DataFrame:
        """Rows of one of `TABLES`, typed; the same filters as the named methods (``kind``,
        ``parameters``)."""
        return next(self.iter_table(name, sites, start, end, chunk_rows=None, **filters))

    def iter_table(
        self,
        name: str,
        sites: Sites = None,
        start: Day = None,
        end: Day = None,
        *,
        kind: str | None = None,
        parameters: Sequence[str] | None = None,
        chunk_rows: int | None = 200_000,
    ) -> Iterator[pd.DataFrame]:
        """The rows of `table` in typed chunks of at most `chunk_rows` (None: one frame).

        Always yields at least one frame (empty, with the columns, when nothing matches).
        """
        table = _table(name)
        sql, params = self._sql(table, sites, start, end, kind, parameters)
        cur = self._store.conn.execute(sql, params)
        cols = [d[0] for d in cur.description]
        yielded = False
        while True:
            rows = cur.fetchall() if chunk_rows is None else cur.fetchmany(chunk_rows)
            if not rows and yielded:
                break
            yield _typed(table, pd.DataFrame(rows, columns=cols), self.tz)
            yielded = True
            if chunk_rows is None or len(rows) < chunk_rows:
                break

    def _sql(
        self,
        table: Table,
        sites: str | Sequence[str] | None,
        start: DateLike | None,
        end: DateLike | None,
        kind: str | None,
        parameters: Sequence[str] | None,
    ) -> tuple[str, list[Any]]:
        if sites is not None and table.sites is None:
            raise UsageError(f"{table.name} has no sites to choose from")
        return read.select(
            table.select(self._store.utc_offset_minutes),
            table.scope,
            table.order,
            site_ids=self.site_ids(sites) if sites is not None else None,
            start=start,
            end=end,
            tz=self.tz,
            kind=kind,
            parameters=parameters,
        )

    def site_ids(self, sites: str | Sequence[str]) -> list[str]:
        """Site ids for ids or names (a name may match several sites); UsageError if unknown."""
        wanted = [sites] if isinstance(sites, str) else list(sites)
        rows = self._store.conn.execute("SELECT site_id, name FROM sites").fetchall()
        by_name: dict[str, list[str]] = {}
        for sid, nm in rows:
            by_name.setdefault(nm, []).append(sid)
        ids = {r[0] for r in rows}
        out: list[str] = []
        for w in wanted:
            if w in ids:
                out.append(w)
            elif w in by_name:
                out += by_name[w]
            else:
                close = difflib.get_close_matches(w, [*ids, *by_name], n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise UsageError(f"no site '{w}' in {self.path}{hint}")
        return list(dict.fromkeys(out))


def _table(name: str) -> Table:
    if name not in TABLES:
        raise UsageError(f"unknown table '{name}'; choose one of: {', '.join(TABLES)}")
    return TABLES[name]


def open_store(path: str | Path, tz: str = "Asia/Shanghai") -> StoreReader:
    """Open an envwatch store read-only for reading DataFrames (see `StoreReader`).

    `tz` is the local time zone of ``time_local`` columns and of date ranges.
    """
    try:
        return StoreReader(path, tz)
    except sqlite3.Error as e:  # pragma: no cover - Store.readonly turns these into StoreError
        raise UsageError(f"{path}: {e}") from None
