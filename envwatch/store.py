"""The SQLite store: observations with revisions, the raw archive, the run ledger, rejects, views.

Layout (schema version in ``PRAGMA user_version``; `migrate()` brings any older store up to date):

- ``observations``: one long table, natural key (site_id, parameter, averaging, period_end).
  ``period_end`` is Unix seconds (UTC) of the end of the averaging period; ``value`` is in the
  parameter's canonical unit (table ``parameters``); ``run_id`` is the run that last wrote it.
  A changed value for an existing key is a revision: the row is updated and ``revisions`` keeps
  old and new. The same value again changes nothing.
- ``raw_payloads``: every fetched payload, gzip-compressed, keyed by its sha256 (the same bytes
  twice are stored once); ``run_payloads`` says which run fetched which payload under what name.
- ``run_ledger`` (view ``runs``): one row per ingest run with its window, status and counts.
- ``rejects``: rows or values that could not be used, with where and why.
- ``sites``: the registry (from stations.yaml, plus sites added from feeds and sheets).
- derived tables (``air_hour`` ...) are recomputed for the keys a run touched, in the same
  transaction as the observations.
- the public views (``air_hourly`` ...) are declared in `envwatch.schema` (columns, types,
  descriptions, SQL); `migrate` re-creates them whenever that declaration changes.

Plain ``sqlite3``, no sqlite-utils: the write path is ``executemany`` in key order (measured
faster than ``upsert_all``), migrations are the numbered SQL scripts of `envwatch.migrations`,
and full-text search would not serve staff (FTS5's default tokenizer keeps a run of Chinese
characters as one token, so 医院 would not find 龙赛医院; the trigram one would, at the cost
of an index kept by triggers on every write; Datasette's ``name__contains`` filter finds it).

Concurrency: WAL mode, a busy timeout, write transactions taken with ``BEGIN IMMEDIATE``, and a
lock file per store so that overlapping ingest runs queue instead of interleaving.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import itertools
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from filelock import FileLock
from filelock import Timeout as FileLockTimeout

from envwatch import read
from envwatch.errors import LockTimeout, StoreError
from envwatch.migrations import MIGRATIONS, SCHEMA_VERSION, statements
from envwatch.schema import RELATIONS, view_sql
from envwatch.sources.base import Reject
from envwatch.standards.water import PARAMETERS as WATER_PARAMETERS

BUSY_TIMEOUT_MS = 30_000
CACHE_KIB = 256 * 1024  # page cache of a writing connection, KiB (docs/scale.md)

# Canonical parameters: code -> (name shown to staff, unit, kind). Readers deliver these codes.
PARAMETERS: dict[str, tuple[str, str, str]] = {
    "pm25": ("PM2.5", "µg/m³", "air"),
    "pm10": ("PM10", "µg/m³", "air"),
    "so2": ("SO2", "µg/m³", "air"),
    "no2": ("NO2", "µg/m³", "air"),
    "co": ("CO", "mg/m³", "air"),
    "o3": ("O3", "µg/m³", "air"),
    "aqi_published": ("AQI (published by the source, not computed)", "1", "air"),
    **{code: (p.name, p.unit, "water") for code, p in WATER_PARAMETERS.items()},
    "class_published": ("水质类别 (published by the source, 1-6, 6 = 劣Ⅴ)", "1", "water"),
    "rain": ("天气 (1 雨天, 0 晴天)", "1", "outfall"),
    "discharging": ("是否排水 (1 是, 0 否)", "1", "outfall"),
    "flow": ("流量", "m³/h", "outfall"),
}

WATER_CODES = tuple(WATER_PARAMETERS)

AIR_POLLUTANTS = ("pm25", "pm10", "so2", "no2", "co", "o3")

KEY = ("site_id", "parameter", "averaging", "period_end")

SITE_COLUMNS = tuple(
    c.name for t in RELATIONS if t.name == "sites" for c in t.columns if c.name != "updated_at"
)
"""The registry's columns a site row carries (``updated_at`` is set by the store)."""


def cannot_open(path: Path, error: sqlite3.Error, *, writing: bool) -> str:
    """A one-line message for a store SQLite could not open, saying what to do.

    A store in WAL mode needs its folder writable even to be read: SQLite keeps
    ``NAME-shm`` and ``NAME-wal`` beside it.
    """
    folder = path.resolve().parent
    if path.exists() and not path.is_file():
        return f"{path}: not a file (a folder, a device or a pipe); give the path of the store"
    what = "cannot write the store" if writing else "cannot read the store"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"{path}: {what}: its folder {folder} is read-only for this user, and SQLite needs "
            f"to create {path.name}-shm and {path.name}-wal beside the store even to read it; "
            "make the folder writable for this user, or copy the store into a writable folder "
            "and give that copy with --db"
        )
    if writing and path.exists() and not os.access(path, os.W_OK):
        return (
            f"{path}: cannot write the store: the file is read-only for this user ({error}); "
            "make it writable (chmod u+w), or use --db PATH"
        )
    if "not a database" in str(error) or "malformed" in str(error):
        return f"{path}: not an envwatch store or not a SQLite file ({error})"
    if writing and isinstance(error, sqlite3.OperationalError):
        return (
            f"{path}: cannot write the store ({error}); the store and its folder must be "
            "writable by this user: fix the permissions, or use --db PATH"
        )
    return f"{path}: cannot open the store ({error}); check the path and its permissions"


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """An aware datetime as ISO-8601 UTC with seconds, e.g. ``2026-11-22T01:50:13Z``."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class UpsertCounts:
    """What one upsert did: values new to the store, revised, and already there unchanged."""

    new: int = 0
    revised: int = 0
    unchanged: int = 0

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.new += other.new
        self.revised += other.revised
        self.unchanged += other.unchanged
        return self


@dataclass
class UpsertResult:
    """Counts, the rows written (new or revised) and the store's state for the batch's groups."""

    counts: UpsertCounts
    written: pd.DataFrame
    state: pd.DataFrame


class Store:
    """An open envwatch store. Use `Store.open(path)` (creates and migrates) or `readonly(path)`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, utc_offset_minutes: int = 480):
        self.conn = conn
        self.path = path
        self.utc_offset_minutes = utc_offset_minutes
        self._depth = 0

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, utc_offset_minutes: int = 480) -> Store:
        """Open (creating if needed) a store for writing and bring its schema up to date."""
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(p), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(
                f"{p}: cannot open the store ({e}); check the path and its permissions"
            ) from None
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.DatabaseError as e:
            # a store in a read-only folder (no -wal file), a locked or unreadable file
            conn.close()
            raise StoreError(cannot_open(p, e, writing=True)) from None
        if mode.lower() != "wal":
            conn.close()
            raise StoreError(f"{p}: could not switch the store to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # A day of national data lands at ~24,000 places of the observations B-tree (one per
        # station and parameter): keep those pages cached so a large store ingests as fast as
        # a small one (measured in benchmarks/bench_scale.py).
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        store = cls(conn, p, utc_offset_minutes=utc_offset_minutes)
        try:
            store.migrate()
        except sqlite3.OperationalError as e:
            conn.close()
            raise StoreError(
                f"{p}: cannot write the store ({e}); free disk space, or make the store and its "
                "folder writable by this user, or use --db PATH"
            ) from None
        return store

    @classmethod
    def readonly(cls, path: str | Path, *, utc_offset_minutes: int = 480) -> Store:
        """Open an existing store read-only at the SQLite level: any write fails."""
        p = Path(path)
        if not p.exists():
            raise StoreError(f"{p}: no store here; run `envwatch init` or `envwatch ingest` first")
        if not p.is_file():  # a FIFO would block the open forever
            raise StoreError(cannot_open(p, sqlite3.OperationalError("not a file"), writing=False))
        try:
            conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA query_only = ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise StoreError(cannot_open(p, e, writing=False)) from None
        if version == 0:
            raise StoreError(f"{p}: not an envwatch store (no schema); run `envwatch init`")
        return cls(conn, p, utc_offset_minutes=utc_offset_minutes)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema --------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply the migrations this store has not had yet, each in its own transaction.

        The version is read inside the write transaction, so two processes opening a new
        store at once do not both apply a migration.
        """
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema {current} is newer than this envwatch "
                f"({SCHEMA_VERSION}); upgrade envwatch"
            )
        for version in range(current, SCHEMA_VERSION):
            with self.transaction():
                if self.schema_version > version:
                    continue  # another process applied it meanwhile
                for statement in statements(MIGRATIONS[version]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {version + 1}")
        views = view_sql(self.utc_offset_minutes)
        digest = hashlib.sha256(
            repr((sorted(PARAMETERS.items()), sorted(views.items()))).encode()
        ).hexdigest()
        if self.get_meta("views_sha256") == digest:
            return
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO parameters (code, name, unit, kind) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(code) DO UPDATE SET name=excluded.name, unit=excluded.unit, kind=excluded.kind",
                [(c, n, u, k) for c, (n, u, k) in PARAMETERS.items()],
            )
            for name, sql in views.items():
                self.conn.execute(f"DROP VIEW IF EXISTS {name}")
                self.conn.execute(f"CREATE VIEW {name} AS {sql}")
            self.set_meta("views_sha256", digest)

    # -- transactions and locks ----------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction (BEGIN IMMEDIATE); nested calls become savepoints."""
        depth = self._depth
        if depth == 0:
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.conn.execute(f"SAVEPOINT sp{depth}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if depth == 0:
                self.conn.execute("ROLLBACK")
            else:
                self.conn.execute(f"ROLLBACK TO sp{depth}")
                self.conn.execute(f"RELEASE sp{depth}")
            raise
        self._depth -= 1
        if depth == 0:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute(f"RELEASE sp{depth}")

    @contextlib.contextmanager
    def writer_lock(
        self, timeout: float = 600.0, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the store's writer lock (a file beside the store); wait at most `timeout` s.

        When another process holds it, `on_wait` is told at once who (the run, its source and
        process id, from the ledger) and for how long this one waits.
        """
        lock = FileLock(str(self.path) + ".lock")
        try:
            try:
                lock.acquire(timeout=0)
            except FileLockTimeout:
                if timeout <= 0:
                    raise
                if on_wait is not None:
                    on_wait(f"{self.holder()}; up to {timeout:.0f} s")
                lock.acquire(timeout=timeout)
        except FileLockTimeout:
            raise LockTimeout(
                f"{self.path}: another envwatch run has held the store's write lock for over "
                f"{timeout:.0f} s; let it finish (see `envwatch status`) or remove {lock.lock_file} "
                "if no envwatch process is running"
            ) from None
        except OSError as e:
            raise StoreError(
                f"{lock.lock_file}: cannot create the store's lock file ({e.strerror}); "
                "the store's folder must be writable: fix its permissions or use --db PATH"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def holder(self) -> str:
        """Who is most likely holding the writer lock, from the newest running run."""
        try:
            row = self.conn.execute(
                "SELECT id, source, pid FROM run_ledger WHERE status = 'running' "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
        except sqlite3.Error:
            row = None
        if row is None:
            return "waiting for another envwatch process to release the store's write lock"
        pid = f" (pid {row[2]})" if row[2] is not None else ""
        return f"waiting for run {row[0]} of {row[1]}{pid} to finish"

    # -- sites ---------------------------------------------------------------------------------

    def upsert_sites(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert or update sites (dicts with keys of SITE_COLUMNS); returns rows changed."""
        if not rows:
            return 0
        now = iso(utcnow())
        cols = list(SITE_COLUMNS)
        sql = (
            f"INSERT INTO sites ({', '.join(cols)}, updated_at) "
            f"VALUES ({', '.join('?' * len(cols))}, ?) ON CONFLICT(site_id) DO UPDATE SET "
            + ", ".join(f"{c}=excluded.{c}" for c in cols[1:])
            + ", updated_at=excluded.updated_at WHERE "
            + " OR ".join(f"sites.{c} IS NOT excluded.{c}" for c in cols[1:])
        )
        before = self.conn.total_changes
        with self.transaction():
            self.conn.executemany(
                sql, [tuple(_site_value(r, c) for c in cols) + (now,) for r in rows]
            )
        return self.conn.total_changes - before

    def sites(self, kind: str | None = None) -> pd.DataFrame:
        """The site registry as a DataFrame (one row per site)."""
        sql = "SELECT * FROM sites" + (" WHERE kind = ?" if kind else "") + " ORDER BY site_id"
        return pd.read_sql_query(sql, self.conn, params=(kind,) if kind else ())

    def site_ids(self, kind: str | None = None) -> set[str]:
        sql = "SELECT site_id FROM sites" + (" WHERE kind = ?" if kind else "")
        return {r[0] for r in self.conn.execute(sql, (kind,) if kind else ())}

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- raw archive ---------------------------------------------------------------------------

    def archive(self, data: bytes) -> str:
        """Keep a payload, gzip-compressed; the same bytes twice are stored once. Returns sha256."""
        sha = hashlib.sha256(data).hexdigest()
        exists = self.conn.execute("SELECT 1 FROM raw_payloads WHERE sha256 = ?", (sha,)).fetchone()
        if not exists:
            blob = gzip.compress(data, compresslevel=1, mtime=0)
            with self.transaction():
                self.conn.execute(
                    "INSERT OR IGNORE INTO raw_payloads (sha256, size, encoding, content, first_seen) "
                    "VALUES (?, ?, 'gzip', ?, ?)",
                    (sha, len(data), blob, iso(utcnow())),
                )
        return sha

    def payload(self, sha256: str) -> bytes:
        """The original bytes of an archived payload."""
        row = self.conn.execute(
            "SELECT content, encoding, size FROM raw_payloads WHERE sha256 = ?", (sha256,)
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no archived payload {sha256}")
        data = gzip.decompress(row[0]) if row[1] == "gzip" else bytes(row[0])
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoreError(f"{self.path}: archived payload {sha256} is corrupt")
        return data

    def record_payload(
        self,
        run_id: int,
        name: str,
        sha256: str | None,
        source: str,
        fetched_at: datetime,
        status: str,
        values_read: int = 0,
        rejected: int = 0,
        error: str | None = None,
    ) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO run_payloads (run_id, name, sha256, source, fetched_at, status, "
                "values_read, rejected, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(run_id, name) DO UPDATE SET sha256=excluded.sha256, "
                "status=excluded.status, values_read=excluded.values_read, "
                "rejected=excluded.rejected, error=excluded.error",
                (
                    run_id,
                    name,
                    sha256,
                    source,
                    iso(fetched_at),
                    status,
                    values_read,
                    rejected,
                    error,
                ),
            )

    # -- run ledger ----------------------------------------------------------------------------

    def start_run(
        self,
        source: str,
        kind: str,
        window: tuple[datetime | None, datetime | None] = (None, None),
        dry_run: bool = False,
    ) -> int:
        """Open a ledger row (status ``running``) and return the run id."""
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO run_ledger (source, kind, started_at, status, window_start, "
                "window_end, dry_run, pid) VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                (
                    source,
                    kind,
                    iso(utcnow()),
                    iso(window[0]) if window[0] else None,
                    iso(window[1]) if window[1] else None,
                    int(dry_run),
                    os.getpid(),
                ),
            )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str, **counts: Any) -> None:
        """Close a ledger row with its status (ok, partial, failed) and counts."""
        allowed = {
            "payloads",
            "fetched",
            "new",
            "revised",
            "unchanged",
            "rejected",
            "error",
            "data_from",
            "data_to",
            "mismatches",
            "faults",
        }
        bad = set(counts) - allowed
        if bad:
            raise ValueError(f"unknown ledger fields {bad}")
        sets = ", ".join(f"{k} = ?" for k in counts)
        with self.transaction():
            self.conn.execute(
                f"UPDATE run_ledger SET status = ?, finished_at = ?{', ' if sets else ''}{sets} "
                "WHERE id = ?",
                (status, iso(utcnow()), *counts.values(), run_id),
            )

    def mark_interrupted_runs(self) -> int:
        """Runs still 'running' while we hold the writer lock were killed: mark them failed."""
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE run_ledger SET status = 'failed', finished_at = ?, error = "
                "'interrupted: the process stopped before the run finished; its finished days "
                "were kept and the next run fetches the rest' WHERE status = 'running'",
                (iso(utcnow()),),
            )
        return cur.rowcount

    def add_rejects(
        self, run_id: int, source: str, payload: str, rejects: Sequence[Reject]
    ) -> None:
        if not rejects:
            return
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO rejects (run_id, source, payload, location, site_id, parameter, "
                "period_end, raw, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        source,
                        payload,
                        r.location,
                        r.site_id,
                        r.parameter,
                        r.period_end,
                        r.raw,
                        r.reason,
                    )
                    for r in rejects
                ],
            )

    # -- observations --------------------------------------------------------------------------

    def upsert_observations(self, obs: pd.DataFrame, run_id: int) -> UpsertResult:
        """Store observations; count new, revised and unchanged values; log revisions.

        `obs` has site_id, parameter, averaging, period_end (Unix seconds, UTC, int64), value
        (float, canonical unit) and flag (str). Keys must be unique within `obs`.
        The result's `state` is what the store holds after the write for the (site, parameter,
        averaging) groups of `obs` over its time range: derived tables are computed from it.
        """
        if obs.empty:
            return UpsertResult(UpsertCounts(), obs.iloc[0:0], obs.iloc[0:0])
        with self.transaction():
            existing = self._existing(obs)
            if existing.empty:
                write = obs
                counts = UpsertCounts(new=len(obs))
                revised = obs.iloc[0:0]
                state = obs
            else:
                merged = obs.merge(existing, on=list(KEY), how="left", indicator=True, sort=False)
                is_new = (merged["_merge"] == "left_only").to_numpy()
                same_value = (merged["value"] == merged["old_value"]) | (
                    merged["value"].isna() & merged["old_value"].isna()
                )
                same = (same_value & (merged["flag"] == merged["old_flag"])).to_numpy()
                changed = ~is_new & ~same
                write = merged.loc[is_new | changed, obs.columns]
                revised = merged.loc[changed]
                counts = UpsertCounts(
                    new=int(is_new.sum()),
                    revised=int(changed.sum()),
                    unchanged=int((~is_new & same).sum()),
                )
                kept = existing.merge(obs[list(KEY)], on=list(KEY), how="left", indicator=True)
                kept = kept.loc[kept["_merge"] == "left_only"]
                state = pd.concat(
                    [
                        obs[[*KEY, "value", "flag"]],
                        kept[[*KEY, "old_value", "old_flag"]].rename(
                            columns={"old_value": "value", "old_flag": "flag"}
                        ),
                    ],
                    ignore_index=True,
                )
            if not write.empty:
                # In key order the B-tree is filled page by page: measured 2x faster than the
                # payload's own order.
                write = write.sort_values(list(KEY), kind="stable")
                self.conn.executemany(
                    "INSERT INTO observations (site_id, parameter, averaging, period_end, value, "
                    "flag, run_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                    "(site_id, parameter, averaging, period_end) DO UPDATE SET "
                    "value = excluded.value, flag = excluded.flag, run_id = excluded.run_id",
                    zip(
                        write["site_id"].tolist(),
                        write["parameter"].tolist(),
                        write["averaging"].tolist(),
                        write["period_end"].tolist(),
                        _nullable(write["value"]),
                        write["flag"].tolist(),
                        itertools.repeat(run_id),
                    ),
                )
            if not revised.empty:
                self.conn.executemany(
                    "INSERT INTO revisions (run_id, site_id, parameter, averaging, period_end, "
                    "old_value, new_value, old_flag, new_flag, old_run_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    zip(
                        itertools.repeat(run_id),
                        revised["site_id"].tolist(),
                        revised["parameter"].tolist(),
                        revised["averaging"].tolist(),
                        revised["period_end"].tolist(),
                        _nullable(revised["old_value"]),
                        _nullable(revised["value"]),
                        revised["old_flag"].tolist(),
                        revised["flag"].tolist(),
                        revised["old_run_id"].astype("int64").tolist(),
                    ),
                )
        return UpsertResult(counts, write, state)

    def _existing(self, obs: pd.DataFrame) -> pd.DataFrame:
        """Stored rows with the sites, parameters and averagings of `obs`, in its time range.

        One query: the IN lists and the time range use the whole primary key.
        """
        sites = pd.unique(obs["site_id"]).tolist()
        params = pd.unique(obs["parameter"]).tolist()
        avgs = pd.unique(obs["averaging"]).tolist()
        lo, hi = int(obs["period_end"].min()), int(obs["period_end"].max())
        rows = self.conn.execute(
            "SELECT site_id, parameter, averaging, period_end, value, flag, run_id "
            "FROM observations WHERE site_id IN (SELECT value FROM json_each(?)) "
            "AND parameter IN (SELECT value FROM json_each(?)) "
            "AND averaging IN (SELECT value FROM json_each(?)) AND period_end BETWEEN ? AND ?",
            (json.dumps(sites), json.dumps(params), json.dumps(avgs), lo, hi),
        ).fetchall()
        existing = pd.DataFrame(
            rows,
            columns=[*KEY, "old_value", "old_flag", "old_run_id"],
        )
        existing["period_end"] = existing["period_end"].astype("int64")
        existing["old_value"] = existing["old_value"].astype("float64")
        return existing

    def observations(
        self,
        sites: Sequence[str] | None = None,
        parameters: Sequence[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        averaging: str | None = None,
    ) -> pd.DataFrame:
        """Stored observations, filtered; period_end as Unix seconds (UTC), start < t <= end."""
        sql, params = read.select(
            "SELECT site_id, parameter, averaging, period_end, value, flag FROM observations",
            _BY_PERIOD_END,
            site_ids=sites,
            parameters=parameters,
            averaging=averaging,
            after=start,
            upto=end,
        )
        return pd.read_sql_query(sql, self.conn, params=params)

    # -- withdrawing payloads ------------------------------------------------------------------

    _KEYS_CTE = (
        "WITH k AS (SELECT json_extract(value, '$[0]') AS site_id, "
        "json_extract(value, '$[1]') AS parameter, json_extract(value, '$[2]') AS averaging, "
        "json_extract(value, '$[3]') AS period_end FROM json_each(?)) "
    )

    @staticmethod
    def _keys_json(keys: pd.DataFrame) -> str:
        return json.dumps(
            list(
                zip(
                    keys["site_id"].tolist(),
                    keys["parameter"].tolist(),
                    keys["averaging"].tolist(),
                    [int(t) for t in keys["period_end"].tolist()],
                    strict=True,
                )
            ),
            ensure_ascii=False,
        )

    def _at_keys(self, table: str, columns: Sequence[str], keys: pd.DataFrame) -> pd.DataFrame:
        """Rows of `table` (which has the KEY columns) at `keys`, one query by primary key."""
        on = " AND ".join(f"t.{c} = k.{c}" for c in KEY)
        rows = self.conn.execute(
            self._KEYS_CTE + f"SELECT {', '.join('t.' + c for c in columns)} "
            f"FROM k JOIN {table} t ON {on}",
            (self._keys_json(keys),),
        ).fetchall()
        return pd.DataFrame(rows, columns=list(columns))

    def observations_at(self, keys: pd.DataFrame) -> pd.DataFrame:
        """The stored rows at `keys` (KEY columns): KEY, value, flag, run_id."""
        return self._at_keys("observations", [*KEY, "value", "flag", "run_id"], keys)

    def revisions_at(self, keys: pd.DataFrame) -> pd.DataFrame:
        """The revisions logged at `keys`: id, KEY, old_value, old_flag, old_run_id."""
        cols = ["id", *KEY, "old_value", "old_flag", "old_run_id"]
        return self._at_keys("revisions", cols, keys)

    def archived_payloads_of_run(self, run_id: int) -> set[str]:
        """The sha256 of the payloads a run stored (ok or partial)."""
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT sha256 FROM run_payloads WHERE run_id = ? AND sha256 IS NOT NULL "
                "AND status IN ('ok', 'partial')",
                (run_id,),
            )
        }

    def keys_written_by_run(self, run_id: int) -> pd.DataFrame:
        """Every key a run wrote: those it holds now and those it revised (a full scan)."""
        rows = self.conn.execute(
            "SELECT site_id, parameter, averaging, period_end FROM observations WHERE run_id = ? "
            "UNION SELECT site_id, parameter, averaging, period_end FROM revisions "
            "WHERE run_id = ?",
            (run_id, run_id),
        ).fetchall()
        return pd.DataFrame(rows, columns=list(KEY))

    def withdrawn_runs(self) -> set[int]:
        """Runs every stored payload of which has been withdrawn."""
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT run_id FROM run_payloads WHERE sha256 IS NOT NULL "
                "AND status IN ('ok', 'partial') GROUP BY run_id HAVING sum(sha256 NOT IN "
                "(SELECT sha256 FROM run_payloads WHERE status = 'withdrawn')) = 0"
            )
        }

    def withdraw_values(self, remove: pd.DataFrame, restore: pd.DataFrame, run_id: int) -> None:
        """Delete the rows of `remove` (KEY, value, flag, run_id) and put back the earlier
        values of `restore` (also old_value, old_flag, old_run_id); each change is a revision
        of run `run_id` (a removed value's new_flag is ``withdrawn``)."""
        log = (
            "INSERT INTO revisions (run_id, site_id, parameter, averaging, period_end, "
            "old_value, new_value, old_flag, new_flag, old_run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        where = "site_id = ? AND parameter = ? AND averaging = ? AND period_end = ?"
        with self.transaction():
            for *key, value, flag, rid in _columns(remove, [*KEY, "value", "flag", "run_id"]):
                self.conn.execute(f"DELETE FROM observations WHERE {where}", key)
                self.conn.execute(log, (run_id, *key, value, None, flag, "withdrawn", rid))
            cols = [*KEY, "value", "flag", "run_id", "old_value", "old_flag", "old_run_id"]
            for *key, value, flag, rid, old, old_flag, old_rid in _columns(restore, cols):
                self.conn.execute(
                    f"UPDATE observations SET value = ?, flag = ?, run_id = ? WHERE {where}",
                    (old, old_flag or "", old_rid, *key),
                )
                self.conn.execute(log, (run_id, *key, value, old, flag, old_flag, rid))

    def delete_rows(self, table: str, keys: pd.DataFrame, cols: Sequence[str]) -> None:
        """Delete the rows of a derived table whose `cols` equal a row of `keys`."""
        if keys.empty:
            return
        where = " AND ".join(f'"{c}" = ?' for c in cols)
        with self.transaction():
            self.conn.executemany(f"DELETE FROM {table} WHERE {where}", rows_of(keys, cols))

    # -- registers (zones, cells) --------------------------------------------------------------

    def upsert_records(
        self, table: str, key: str, df: pd.DataFrame, cols: Sequence[str], run_id: int
    ) -> UpsertCounts:
        """Insert or update register rows (zones, cells) by `key`; a changed row is a revision
        (old and new kept as JSON in ``record_revisions``).

        A sheet updates only the fields it carries: a null (a column the sheet lacks, an empty
        cell) never replaces a stored value, so a status sheet loaded after the GeoJSON outlines
        keeps them. A row whose fields all agree with the store is unchanged."""
        counts = UpsertCounts()
        if df.empty:
            return counts
        names = ", ".join(cols)
        old_rows = {
            r[0]: r[1:]
            for r in self.conn.execute(
                f"SELECT {key}, {', '.join(c for c in cols if c != key)} FROM {table}"
            )
        }
        now = iso(utcnow())
        others = [c for c in cols if c != key]
        with self.transaction():
            for row in rows_of(df, cols):
                record = dict(zip(cols, row, strict=True))
                old = old_rows.get(record[key])
                if old is not None:
                    record.update(
                        {c: o for c, o in zip(others, old, strict=True) if record[c] is None}
                    )
                    row = tuple(record[c] for c in cols)
                new_values = tuple(record[c] for c in others)
                if old is not None and tuple(old) == new_values:
                    counts.unchanged += 1
                    continue
                if old is None:
                    counts.new += 1
                else:
                    counts.revised += 1
                    self.conn.execute(
                        "INSERT INTO record_revisions (run_id, tbl, record_id, old, new) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (
                            run_id,
                            table,
                            record[key],
                            json.dumps(dict(zip(others, old, strict=True)), ensure_ascii=False),
                            json.dumps(
                                dict(zip(others, new_values, strict=True)), ensure_ascii=False
                            ),
                        ),
                    )
                self.conn.execute(
                    f"INSERT OR REPLACE INTO {table} ({names}, run_id, updated_at) "
                    f"VALUES ({', '.join('?' * len(cols))}, ?, ?)",
                    (*row, run_id, now),
                )
        return counts

    def register_parameters(self, rows: Sequence[tuple[str, str, str, str]]) -> None:
        """Add or update parameters defined by the configuration (code, name, unit, kind)."""
        if not rows:
            return
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO parameters (code, name, unit, kind) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(code) DO UPDATE SET name=excluded.name, unit=excluded.unit, "
                "kind=excluded.kind",
                rows,
            )

    # -- derived tables ------------------------------------------------------------------------

    def replace_rows(self, table: str, df: pd.DataFrame, cols: Sequence[str]) -> None:
        """INSERT OR REPLACE the rows of `df` (columns `cols`) into a derived table."""
        if df.empty:
            return
        names = ", ".join(f'"{c}"' for c in cols)
        with self.transaction():
            self.conn.executemany(
                f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({', '.join('?' * len(cols))})",
                rows_of(df, cols),
            )

    def air_hours(
        self,
        sites: Sequence[str] | None,
        start: int | None,
        end: int | None,
        *,
        all_columns: bool = False,
    ) -> pd.DataFrame:
        """Rows of ``air_hour`` (start < period_end <= end, Unix seconds UTC)."""
        cols = "*" if all_columns else "site_id, period_end, pm25, pm10, so2, no2, co, o3"
        sql, params = read.select(
            f"SELECT {cols} FROM air_hour",
            _BY_PERIOD_END,
            "site_id, period_end",
            site_ids=sites,
            after=start,
            upto=end,
        )
        df = pd.read_sql_query(sql, self.conn, params=params)
        for c in AIR_POLLUTANTS:
            df[c] = df[c].astype("float64")
        return df


_BY_PERIOD_END = read.Scope(time_column="period_end")


def _site_value(row: dict[str, Any], col: str) -> Any:
    v = row.get(col)
    if col in ("background", "water_type_guessed"):
        return int(bool(v))
    if col == "membership":
        return None if v is None else json.dumps(v, ensure_ascii=False, sort_keys=True)
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def _columns(df: pd.DataFrame, cols: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows of `df` as tuples of plain Python values (ints for ids and times, NaN as NULL)."""
    out = []
    for c in cols:
        if c in ("period_end", "run_id", "old_run_id"):
            out.append([int(v) for v in df[c].tolist()])
        else:
            out.append(_nullable(df[c]) if df[c].dtype.kind == "f" else df[c].tolist())
    return list(zip(*out, strict=True))


def _nullable(s: pd.Series) -> list[Any]:
    return [None if v != v else v for v in s.tolist()]


def rows_of(df: pd.DataFrame, cols: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows of `df` as tuples for executemany, with NaN and <NA> as NULL."""
    columns = []
    for c in cols:
        col = df[c]
        values = col.astype(object).where(col.notna(), None).tolist()
        columns.append(values)
    return list(zip(*columns, strict=True))
