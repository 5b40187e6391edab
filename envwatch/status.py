"""Freshness per source: the last run, its status and counts, and the newest data stored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from envwatch.config import LoadedConfig
from envwatch.store import Store


def source_status(
    loaded: LoadedConfig, db: str | Path | None = None, now: datetime | None = None
) -> pd.DataFrame:
    """One row per configured source: last run, status, counts, newest data (local, hour-ending).

    ``age_hours`` is how old the newest stored data is, in hours, against `now`.
    """
    path = Path(db) if db else loaded.store_path
    store = Store.readonly(path)
    now = now or datetime.now(UTC)
    tz = loaded.tz
    rows = []
    try:
        for src in loaded.config.sources:
            last = store.conn.execute(
                "SELECT id, started_at, status, fetched, new, revised, unchanged, rejected, error "
                "FROM run_ledger WHERE source = ? AND dry_run = 0 ORDER BY id DESC LIMIT 1",
                (src.name,),
            ).fetchone()
            newest = store.conn.execute(
                "SELECT max(data_to), count(*) FROM run_ledger WHERE source = ? AND dry_run = 0 "
                "AND status IN ('ok', 'partial')",
                (src.name,),
            ).fetchone()
            row: dict[str, object] = {"source": src.name, "kind": src.kind}
            if last is None:
                row.update(last_run="never", status="", new=None, revised=None, rejected=None)
            else:
                started = datetime.strptime(last[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                row.update(
                    last_run=f"#{last[0]} {started.astimezone(tz):%Y-%m-%d %H:%M}",
                    status=last[2],
                    new=last[4],
                    revised=last[5],
                    rejected=last[7],
                )
            if newest and newest[0] is not None:
                newest_ts = datetime.fromtimestamp(newest[0], tz=UTC)
                row["newest_data"] = f"{newest_ts.astimezone(tz):%Y-%m-%d %H:%M}"
                row["age_hours"] = round((now - newest_ts).total_seconds() / 3600, 1)
            else:
                row["newest_data"] = "no data"
                row["age_hours"] = None
            row["problem"] = (last[8] or "")[:120] if last is not None and last[2] != "ok" else ""
            rows.append(row)
    finally:
        store.close()
    return pd.DataFrame(rows)
