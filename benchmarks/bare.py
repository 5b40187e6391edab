"""The baseline envwatch's ingest is measured against: a bare sqlite3 insert of the same values.

Two baselines, both into an empty table with envwatch's key (site, parameter, averaging,
period end), WAL and synchronous=NORMAL, one transaction per batch:

- **plain**: `executemany` of the rows in file order with SQLite's default page cache (2 MB):
  what a user would write first;
- **tuned**: the rows sorted by key (the sort is timed) and the same page cache as envwatch's
  store (`envwatch.store.CACHE_KIB`): the fastest bare insert we know of for this key.

Parsing (`cnemc_air_archive.read` + `normalise`) is done outside the timing.
"""

from __future__ import annotations

import sqlite3
import time
from operator import itemgetter
from pathlib import Path

from envwatch.pipeline import normalise
from envwatch.sources import cnemc_air_archive
from envwatch.store import CACHE_KIB

SCHEMA = (
    "CREATE TABLE observations (site_id TEXT NOT NULL, parameter TEXT NOT NULL, "
    "averaging TEXT NOT NULL, period_end INTEGER NOT NULL, value REAL, flag TEXT NOT NULL, "
    "run_id INTEGER NOT NULL, PRIMARY KEY (site_id, parameter, averaging, period_end)) "
    "STRICT, WITHOUT ROWID"
)

Row = tuple[str, str, str, int, float | None, str, int]
_KEY = itemgetter(0, 1, 2, 3)


def rows_of(path: Path) -> list[Row]:
    """The observation rows of one `china_sites_*.csv` file, as envwatch would store them."""
    obs, _ = normalise(cnemc_air_archive.read(path.read_bytes(), name=path.name))
    return list(
        zip(
            obs["site_id"].tolist(),
            obs["parameter"].tolist(),
            obs["averaging"].tolist(),
            obs["period_end"].tolist(),
            obs["value"].tolist(),
            obs["flag"].tolist(),
            [1] * len(obs),
            strict=True,
        )
    )


class Bare:
    """An empty bare store; `insert` adds one batch in one transaction and returns seconds."""

    def __init__(self, db: Path, tuned: bool) -> None:
        self.tuned = tuned
        self.conn = sqlite3.connect(db, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        if tuned:
            self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self.conn.execute(SCHEMA)

    def insert(self, rows: list[Row]) -> float:
        t = time.perf_counter()
        if self.tuned:
            rows = sorted(rows, key=_KEY)
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        self.conn.execute("COMMIT")
        return time.perf_counter() - t

    def close(self) -> None:
        self.conn.close()


def bare_files(db: Path, files: list[Path], tuned: bool) -> tuple[int, float]:
    """Insert every file's rows, a file (a day) per transaction: (values, seconds)."""
    store = Bare(db, tuned)
    n, spent = 0, 0.0
    try:
        for f in files:
            rows = rows_of(f)
            spent += store.insert(rows)
            n += len(rows)
    finally:
        store.close()
    return n, spent
