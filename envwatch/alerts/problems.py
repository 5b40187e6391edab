"""The report's 问题清单: open problems, overdue ones, and those closed in the period.

`problem_list(conn, start, end, ...)` returns the section's data for any period (a week, a
month, a year: local dates `start` … `end`, inclusive); the weekly page shows it. Nothing here
writes: a store without alerts gives empty lists.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from envwatch.alerts.episodes import has_schema


@dataclass(frozen=True)
class Problem:
    """One alert as the report lists it (local times)."""

    id: int
    rule: str
    kind: str
    subject: str
    detail: str
    status: str  # open, acknowledged, cleared, closed
    opened: str
    cleared: str | None
    closed: str | None
    handled_by: str | None  # who it was handed to (交办) or closed by
    note: str | None  # the 交办 or 销号 note
    open_days: float  # from opened to the period's end (or to its close)


@dataclass
class ProblemList:
    """问题清单 of a period: `open` (not closed at its end, incl. cleared but not yet closed),
    `overdue` (of those, open longer than `overdue_after`), `closed` (closed within it)."""

    start: date
    end: date
    overdue_after: timedelta
    open: list[Problem] = field(default_factory=list)
    overdue: list[Problem] = field(default_factory=list)
    closed: list[Problem] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.open or self.closed)


def problem_list(
    conn: sqlite3.Connection,
    start: date,
    end: date,
    *,
    tz: ZoneInfo,
    overdue_after: timedelta = timedelta(days=3),
    now: datetime | None = None,
) -> ProblemList:
    """The 问题清单 of the local dates `start` … `end` (the end bounded by `now`)."""
    out = ProblemList(start, end, overdue_after)
    if not has_schema(conn):
        return out
    t0 = datetime.combine(start, time(), tz).astimezone(UTC)
    t1 = datetime.combine(end + timedelta(days=1), time(), tz).astimezone(UTC)
    if now is not None and now < t1:
        t1 = now.astimezone(UTC)
    s0, s1 = _iso(t0), _iso(t1)
    cur = conn.execute(
        "SELECT * FROM alerts WHERE opened < ? AND (closed IS NULL OR closed >= ?) ORDER BY id",
        (s1, s0),
    )
    names = [c[0] for c in cur.description]
    for row in cur.fetchall():
        e = dict(zip(names, row, strict=True))
        closed_in = e["closed"] is not None and e["closed"] < s1
        until = _parse(e["closed"]) if closed_in else t1
        p = _problem(e, tz, (until - _parse(e["opened"])).total_seconds() / 86400, s1)
        if closed_in:
            out.closed.append(p)
        else:
            out.open.append(p)
            still = e["cleared"] is None or e["cleared"] >= s1
            if still and until - _parse(e["opened"]) > overdue_after:
                out.overdue.append(p)
    return out


def _problem(e: dict[str, Any], tz: ZoneInfo, days: float, s1: str) -> Problem:
    def local(v: str | None) -> str | None:
        return None if v is None else f"{_parse(v).astimezone(tz):%Y-%m-%d %H:%M}"

    closed = e["closed"] if e["closed"] is not None and e["closed"] < s1 else None
    cleared = e["cleared"] if e["cleared"] is not None and e["cleared"] < s1 else None
    acked = e["acknowledged"] is not None and e["acknowledged"] < s1
    status = "closed" if closed else "cleared" if cleared else "acknowledged" if acked else "open"
    subject = e["subject_name"] or e["subject"]
    if e["subject_name"] and e["subject_name"] != e["subject"]:
        subject += f"（{e['subject']}）"
    return Problem(
        id=int(e["id"]),
        rule=e["rule"],
        kind=e["kind"],
        subject=subject,
        detail=e["detail"],
        status=status,
        opened=local(e["opened"]) or "",
        cleared=local(cleared),
        closed=local(closed),
        handled_by=e["closed_by"] if closed else e["ack_by"],
        note=e["close_note"] if closed else e["ack_note"],
        open_days=round(days, 1),
    )


STATUS_LABELS = {
    "open": "未处理",
    "acknowledged": "已交办",
    "cleared": "已恢复待销号",
    "closed": "已销号",
}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
