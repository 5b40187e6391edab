"""Which local days a windowed source (one file a day) fetches, decided from the run ledger.

The window survives whatever is stored: a `data_to` in the future (a bad file, or a clock that
went back) never pushes the start past today, so a daily run without dates always has a
window to fetch.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from envwatch.config import LoadedConfig, Source, parse_duration
from envwatch.errors import UsageError
from envwatch.store import Store

DAY_IN_NAME = re.compile(r"(20\d{2})(\d{2})(\d{2})")


def midnight(d: date, tz: ZoneInfo) -> datetime:
    """The start of local day `d`, as an aware UTC datetime."""
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)


def window(
    loaded: LoadedConfig,
    store: Store,
    source: Source,
    since: date | None,
    until: date | None,
    today: date | None,
) -> tuple[date, date]:
    """Local dates to fetch, inclusive.

    From the newest good data minus the lookback (late and revised data), or from the earliest
    day that failed and has not been fetched since, whichever is earlier, to today; never more
    than `max_catchup` back (older gaps are for `envwatch backfill`) and never after today
    (stored data dated in the future does not move the window).
    """
    today = today or datetime.now(loaded.tz).date()
    if since is None:
        since = _start(loaded, store, source, today)
        if until is not None:
            since = min(since, until)
    until = until or today
    if since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    return since, until


def _start(loaded: LoadedConfig, store: Store, source: Source, today: date) -> date:
    row = store.conn.execute(
        "SELECT max(data_to) FROM run_ledger WHERE source = ? AND status IN ('ok', 'partial') "
        "AND dry_run = 0",
        (source.name,),
    ).fetchone()
    if row and row[0] is not None:
        # data stored with a future date (before it was refused) counts as data up to now
        newest = datetime.fromtimestamp(row[0], tz=loaded.tz)
        end_of_today = midnight(today + timedelta(days=1), loaded.tz).astimezone(loaded.tz)
        since = (min(newest, end_of_today) - source.lookback_delta).date()
    else:
        since = today - max(source.lookback_delta, timedelta(days=1))
    failed = failed_days(store, source.name)
    if failed:
        since = min(since, failed[0])
    floor = today - parse_duration(source.max_catchup)
    return min(max(since, floor), today)


def failed_days(store: Store, source: str) -> list[date]:
    """Days whose payload failed and was not fetched successfully since, oldest first."""
    rows = store.conn.execute(
        "SELECT DISTINCT f.name FROM run_payloads f WHERE f.source = ? AND f.status = 'failed' "
        "AND NOT EXISTS (SELECT 1 FROM run_payloads g WHERE g.source = f.source "
        "AND g.name = f.name AND g.status IN ('ok', 'partial') AND g.run_id > f.run_id)",
        (source,),
    ).fetchall()
    return sorted({d for (name,) in rows if (d := day_in_name(name)) is not None})


def day_in_name(name: str) -> date | None:
    """The day a payload's name carries (``china_sites_20261122.csv``), or None."""
    m = DAY_IN_NAME.search(name)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def days(span: tuple[date, date] | None) -> list[date]:
    """Every local day of an inclusive span."""
    if span is None:
        return []
    n = (span[1] - span[0]).days
    return [span[0] + timedelta(days=i) for i in range(n + 1)]
