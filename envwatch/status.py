"""Freshness per source: last run, newest data, gaps, revisions and AQI mismatches.

- ``newest_data``: the newest stored instant (local time; air values are hour-ending) and its
  age in hours against now;
- ``last_run``: the last run, its status and counts; ``runs_7d`` how many runs in seven days and
  how many of them were not ``ok``; a run the ledger says is ``running`` but whose process is
  gone (or that holds no writer lock) was killed, and shows as ``interrupted``;
- ``gaps``: for day-by-day sources, the days of the last `GAP_DAYS` (up to today) with no stored
  payload, and days that failed and were not fetched since; for the others, the payloads that
  failed and were not fetched since;
- ``revisions_7d``: values revised by the source's runs in the last seven days;
- ``aqi_mismatches``: hours whose computed AQI differs from the AQI the source published, over
  the source's runs in the last seven days.
"""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from envwatch.config import LoadedConfig
from envwatch.store import Store, iso

GAP_DAYS = 14


def lock_held(store_path: Path) -> bool | None:
    """Whether some process holds the store's writer lock (the file ``STORE.lock``), found
    without taking it: a shared lock is refused while an exclusive one is held. None when the
    file system cannot tell (no ``flock`` there)."""
    try:
        fd = os.open(f"{store_path}.lock", os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False  # no lock file: no run has ever held it here
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def still_running(store_path: Path, pid: int | None) -> bool:
    """Whether a run the ledger says is ``running`` still is: its process exists and someone
    holds the store's writer lock (a run holds it from start to end). A run killed with
    ``kill -9`` leaves ``running`` in the ledger until the next run marks it failed."""
    if pid is not None and not process_alive(int(pid)):
        return False
    held = lock_held(store_path)
    return pid is not None if held is None else held


def _fmt_days(days: list[date]) -> str:
    if not days:
        return ""
    shown = ", ".join(f"{d:%m-%d}" for d in days[:5])
    return f"{len(days)} day(s): {shown}" + (" …" if len(days) > 5 else "")


def source_status(
    loaded: LoadedConfig, db: str | Path | None = None, now: datetime | None = None
) -> pd.DataFrame:
    """One row per configured source (see the module docstring for the columns)."""
    from envwatch.pipeline import _DAY_IN_NAME, WINDOWED, failed_days

    path = Path(db) if db else loaded.store_path
    store = Store.readonly(path)
    now = now or datetime.now(UTC)
    tz = loaded.tz
    week_ago = iso(now - timedelta(days=7))
    today = now.astimezone(tz).date()
    rows = []
    try:
        for src in loaded.config.sources:
            q = store.conn.execute
            last = q(
                "SELECT id, started_at, status, new, revised, rejected, error, pid FROM run_ledger "
                "WHERE source = ? AND dry_run = 0 ORDER BY id DESC LIMIT 1",
                (src.name,),
            ).fetchone()
            newest = q(
                "SELECT max(data_to) FROM run_ledger WHERE source = ? AND dry_run = 0 "
                "AND status IN ('ok', 'partial')",
                (src.name,),
            ).fetchone()[0]
            recent = q(
                "SELECT count(*), coalesce(sum(status != 'ok'), 0), coalesce(sum(revised), 0), "
                "coalesce(sum(mismatches), 0) FROM run_ledger WHERE source = ? AND dry_run = 0 "
                "AND started_at >= ?",
                (src.name, week_ago),
            ).fetchone()
            row: dict[str, object] = {"source": src.name}
            if newest is not None:
                newest_ts = datetime.fromtimestamp(newest, tz=UTC)
                row["newest_data"] = f"{newest_ts.astimezone(tz):%Y-%m-%d %H:%M}"
                row["age_hours"] = round((now - newest_ts).total_seconds() / 3600, 1)
            else:
                row["newest_data"] = "no data"
                row["age_hours"] = None
            if last is None:
                row.update(last_run="never", status="", new=None, rejected=None)
            else:
                started = datetime.strptime(last[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                running = last[2] == "running"
                row.update(
                    last_run=f"#{last[0]} {started.astimezone(tz):%Y-%m-%d %H:%M}",
                    status="interrupted"
                    if running and not still_running(path, last[7])
                    else last[2],
                    new=last[3],
                    rejected=last[5],
                )
            row["runs_7d"] = f"{recent[0]} ({recent[1]} not ok)" if recent[0] else "0"
            row["revisions_7d"] = recent[2]
            row["aqi_mismatches"] = recent[3] if src.kind.startswith("cnemc-air") else None
            if src.kind in WINDOWED:
                stored = {
                    date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                    for (name,) in q(
                        "SELECT DISTINCT name FROM run_payloads WHERE source = ? "
                        "AND status IN ('ok', 'partial')",
                        (src.name,),
                    )
                    if (m := _DAY_IN_NAME.search(name))
                }
                first = min(stored) if stored else today
                window = [
                    today - timedelta(days=i)
                    for i in range(GAP_DAYS, -1, -1)
                    if today - timedelta(days=i) >= first
                ]
                missing = sorted(
                    set(failed_days(store, src.name)) | {d for d in window if d not in stored}
                )
                row["gaps"] = _fmt_days(missing)
            else:
                failed = q(
                    "SELECT count(DISTINCT f.name) FROM run_payloads f WHERE f.source = ? "
                    "AND f.status = 'failed' AND NOT EXISTS (SELECT 1 FROM run_payloads g "
                    "WHERE g.source = f.source AND g.name = f.name AND g.status IN ('ok', 'partial') "
                    "AND g.run_id > f.run_id)",
                    (src.name,),
                ).fetchone()[0]
                row["gaps"] = f"{failed} failed payload(s)" if failed else ""
            row["problem"] = (last[6] or "")[:100] if last is not None and last[2] != "ok" else ""
            if row.get("status") == "interrupted":
                row["problem"] = (
                    f"run #{last[0]} stopped before it finished (its process {last[7]} is gone); "
                    "the next run keeps its finished days and fetches the rest"
                )
            rows.append(row)
    finally:
        store.close()
    return pd.DataFrame(rows)
