"""The read layer: one place that turns sites, local dates and codes into SQL filters.

`where` builds the WHERE clause of every read of a relation (the public API, the export, the
Python helpers `air.daily`, `water.samples`, `outfalls.inspections`, and the store's own
reads of observations and hours); `select` adds the relation's SELECT and ORDER BY. A
relation says how it is filtered with a `Scope`: its time kind and column, its site column.

Time conventions: `start` and `end` are local dates, inclusive. Hourly values (``hour``) are
filtered by natural day, hours labelled 01:00 … 24:00: ``midnight(start) < t <=
midnight(end + 1)``. Instants (``sample``: water samples, inspections) by
``midnight(start) <= t < midnight(end + 1)``. ``date`` and ``month`` columns by their text,
``span`` by overlap of ``period_start … period_end``, ``utc`` (ISO-8601 UTC text) by instants.
`after` and `upto` bound a Unix-seconds column directly: ``after < t <= upto``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, Protocol

import pandas as pd

from envwatch.errors import UsageError

DateLike = str | date | datetime | pd.Timestamp

TIME_KINDS = ("hour", "sample", "date", "month", "span", "utc", "unix")


@dataclass(frozen=True)
class Scope:
    """How a relation is filtered: `time` (one of `TIME_KINDS`, or None: no dates) on
    `time_column`, sites on `sites` (None: no site filter), and the names of its ``kind``,
    ``parameter`` and ``averaging`` columns."""

    time: str | None = None
    time_column: str = ""
    sites: str | None = "site_id"
    kind: str = "kind"
    parameter: str = "parameter"
    averaging: str = "averaging"
    name: str = "this table"


def fixed_zone(utc_offset_minutes: int) -> tzinfo:
    """A fixed-offset zone (China has no daylight saving time: +480 minutes all year)."""
    return timezone(timedelta(minutes=utc_offset_minutes))


def local_day(value: DateLike, what: str) -> date:
    """A local date from ``YYYY-MM-DD``, a date or a Timestamp at midnight; UsageError if not."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise UsageError(f"{what} '{value}' is not a date: write YYYY-MM-DD") from None
    if ts is pd.NaT or ts != ts.normalize():
        raise UsageError(f"{what} '{value}' is not a date: give a day, e.g. 2026-11-01")
    return ts.date()


def _in(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


def _midnight(d: date, tz: tzinfo) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp())


def _iso(d: date, tz: tzinfo) -> str:
    return (
        datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def where(
    scope: Scope,
    *,
    site_ids: Sequence[str] | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
    tz: tzinfo = UTC,
    kind: str | None = None,
    parameters: Sequence[str] | None = None,
    averaging: str | None = None,
    after: int | None = None,
    upto: int | None = None,
) -> tuple[list[str], list[Any]]:
    """The filters of one read as SQL clauses (joined with AND) and their parameters.

    `start` and `end` are local dates (inclusive; UsageError if they are not days)."""
    first = local_day(start, "start") if start is not None else None
    last = local_day(end, "end") if end is not None else None
    clauses: list[str] = []
    params: list[Any] = []

    def add(clause: str, *values: Any) -> None:
        clauses.append(clause)
        params.extend(values)

    if site_ids is not None:
        if scope.sites is None:
            raise UsageError(f"{scope.name} has no sites to choose from")
        clause, values = _in(scope.sites, site_ids)
        add(clause, *values)
    if kind is not None:
        add(f"{scope.kind} = ?", kind)
    if parameters is not None:
        clause, values = _in(scope.parameter, parameters)
        add(clause, *values)
    if averaging is not None:
        add(f"{scope.averaging} = ?", averaging)
    if after is not None:
        add(f"{scope.time_column} > ?", int(after))
    if upto is not None:
        add(f"{scope.time_column} <= ?", int(upto))
    if first is None and last is None:
        return clauses, params
    if first and last and first > last:
        raise UsageError(f"start {first} is after end {last}")
    if scope.time is None:
        raise UsageError(f"{scope.name} has no dates to choose from")
    col = scope.time_column
    nxt = last + timedelta(days=1) if last else None
    if scope.time == "hour":  # natural days: hour-ending labels 01:00 … 24:00
        if first:
            add(f"{col} > ?", _midnight(first, tz))
        if nxt:
            add(f"{col} <= ?", _midnight(nxt, tz))
    elif scope.time == "sample":  # instants: [first 00:00, last+1 00:00)
        if first:
            add(f"{col} >= ?", _midnight(first, tz))
        if nxt:
            add(f"{col} < ?", _midnight(nxt, tz))
    elif scope.time == "date":
        if first:
            add(f"{col} >= ?", first.isoformat())
        if last:
            add(f"{col} <= ?", last.isoformat())
    elif scope.time == "month":
        if first:
            add(f"{col} >= ?", f"{first:%Y-%m}")
        if last:
            add(f"{col} <= ?", f"{last:%Y-%m}")
    elif scope.time == "span":  # periods overlapping the days
        if first:
            add("period_end >= ?", first.isoformat())
        if last:
            add("period_start <= ?", last.isoformat())
    elif scope.time == "utc":
        if first:
            add(f"{col} >= ?", _iso(first, tz))
        if nxt:
            add(f"{col} < ?", _iso(nxt, tz))
    else:
        raise ValueError(f"unknown time kind {scope.time!r}")
    return clauses, params


def select(sql: str, scope: Scope, order: str = "", **filters: Any) -> tuple[str, list[Any]]:
    """`sql` (a SELECT without WHERE) with the filters of `where` and ORDER BY `order`."""
    clauses, params = where(scope, **filters)
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    if order:
        sql += f" ORDER BY {order}"
    return sql, params


class Relation(Protocol):
    """What `frame` needs of a relation (an `envwatch.schema.Table`)."""

    @property
    def scope(self) -> Scope: ...

    @property
    def order(self) -> str: ...

    def select(self, utc_offset_minutes: int = 480) -> str: ...


def frame(
    conn: sqlite3.Connection,
    relation: Relation,
    utc_offset_minutes: int,
    **filters: Any,
) -> pd.DataFrame:
    """The rows of `relation` as SQLite gives them (untyped), filtered by `where`'s filters;
    dates in the store's local time (UTC + `utc_offset_minutes`)."""
    sql, params = select(
        relation.select(utc_offset_minutes),
        relation.scope,
        relation.order,
        tz=fixed_zone(utc_offset_minutes),
        **filters,
    )
    return pd.read_sql_query(sql, conn, params=params)
