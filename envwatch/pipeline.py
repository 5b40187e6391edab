"""One ingest run: window from the ledger -> fetch -> archive -> read -> normalise -> upsert -> derive.

Each payload (a day's file, a page of a feed, a staff sheet) is archived first, in its own
transaction, so that the bytes are kept even when they cannot be parsed; then its observations,
rejects and derived rows are written in one transaction. A run that is interrupted keeps the
payloads it finished; the next run re-fetches from its window and stores nothing twice.

What each kind of source does (patterns, fetching, reader, averaging, sites, registers) is
declared in `envwatch.sources.registry`; this module names no kind. The jobs of a run live in
`envwatch.ingest` (window, fetch, normalise, run, withdraw); this module is their front door.

Exit status of a run: 0 ok, 1 partial (some rows rejected or some payloads failed, the rest
stored), 2 failed (nothing usable; or the store cannot be written).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from envwatch.config import LoadedConfig
from envwatch.errors import StoreError, UsageError
from envwatch.ingest import run as _runs
from envwatch.ingest import window as _window
from envwatch.ingest.fetch import Payload, fill_date, source_secrets
from envwatch.ingest.normalise import UNIT_FACTORS, normalise
from envwatch.ingest.run import Request, RunResult
from envwatch.ingest.withdraw import WithdrawResult
from envwatch.sources import registry
from envwatch.store import Store

__all__ = [
    "UNIT_FACTORS",
    "Payload",
    "RunResult",
    "WithdrawResult",
    "backfill",
    "done_days",
    "failed_days",
    "fill_date",
    "ingest",
    "normalise",
    "open_store",
    "reparse",
    "source_secrets",
    "sync_sites",
    "withdraw",
]

# Kept for the modules that asked for them before the registry (status, tests).
_DAY_IN_NAME = _window.DAY_IN_NAME
failed_days = _window.failed_days
WINDOWED = registry.windowed()


class _DryRunRollback(Exception):
    pass


def open_store(loaded: LoadedConfig, db: str | Path | None = None) -> Store:
    """Open the configured store (or `db`) for writing."""
    offset = _utc_offset_minutes(loaded)
    return Store.open(Path(db) if db else loaded.store_path, utc_offset_minutes=offset)


def _utc_offset_minutes(loaded: LoadedConfig) -> int:
    off = datetime(2026, 1, 1, tzinfo=loaded.tz).utcoffset()
    return int(off.total_seconds() // 60) if off else 0


def sync_sites(loaded: LoadedConfig, store: Store) -> list[str]:
    """Bring the store's registry up to date with stations.yaml; returns warnings for staff.

    Sites without a configured district get one by point-in-polygon on the region city's
    district boundaries; a configured district that disagrees with the boundaries is reported.
    """
    from envwatch import area

    cfg = loaded.config
    store.register_parameters([(i.id, i.name, i.unit, "indicator") for i in cfg.indicators])
    area.sync_config(loaded, store)  # membership of area values; recomputes them on a change
    digest = hashlib.sha256(
        json.dumps(
            [cfg.region.model_dump(), [s.model_dump() for s in cfg.sites]],
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
    ).hexdigest()
    if store.get_meta("config_sites_sha256") == digest:
        return []
    from envwatch import geo  # loads the boundaries (geopandas): only when the sites changed

    warnings: list[str] = []
    rows: list[dict[str, Any]] = []
    for s in cfg.sites:
        lon, lat = (None, None)
        if s.lon is not None and s.lat is not None:
            lon, lat = geo.to_wgs84(s.lon, s.lat, s.crs)
        row = s.model_dump()
        row.update(site_id=s.id, lon=lon, lat=lat, crs_source=s.crs, origin="config")
        row["district_source"] = "config" if s.district else None
        rows.append(row)
    located = [
        r for r in rows if r["lon"] is not None and (r.get("city") in (None, cfg.region.city))
    ]
    if located:
        found = geo.assign_districts(
            [r["lon"] for r in located],
            [r["lat"] for r in located],
            cfg.region.province,
            cfg.region.city,
        )
        for r, d in zip(located, found, strict=True):
            if r["district"] is None and d is not None:
                r["district"], r["district_source"] = d, "boundary"
                r["city"] = r.get("city") or cfg.region.city
            elif r["district"] is not None and d is not None and d != r["district"]:
                i = next(i for i, s in enumerate(cfg.sites) if s.id == r["site_id"])
                warnings.append(
                    f"{loaded.path}:{loaded.line_of('sites', i)}: site {r['site_id']} is configured "
                    f"in {r['district']} but its coordinates lie in {d}; check one or the other"
                )
    for r in rows:
        if r.get("province") is None and r.get("city") == cfg.region.city:
            r["province"] = cfg.region.province
    # The district itself: the place area-wide figures (zero-waste indicators) are kept under.
    rows.append(
        {
            "site_id": cfg.region.district,
            "name": cfg.region.district,
            "kind": "area",
            "province": cfg.region.province,
            "city": cfg.region.city,
            "district": cfg.region.district,
            "origin": "config",
        }
    )
    store.upsert_sites(rows)
    store.set_meta("config_sites_sha256", digest)
    return warnings


def ingest(
    loaded: LoadedConfig,
    source_name: str,
    *,
    db: str | Path | None = None,
    files: Sequence[str | Path] = (),
    url: str | None = None,
    since: date | None = None,
    until: date | None = None,
    all_sites: bool = False,
    add_sites: bool = False,
    dry_run: bool = False,
    lock_timeout: float = 600.0,
    today: date | None = None,
    days: Sequence[date] | None = None,
    reparse: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run one ingest of `source_name` and record it in the ledger; never raises for bad data.

    `files` feeds local files (or folders of them) through the same reader as the network path;
    `url` replaces the configured address. `since`/`until` are local dates (inclusive); without
    them the window comes from the ledger. `lock_timeout` is how long to wait, in seconds, for
    another run holding the store's write lock (saying so on stderr at once). A store that
    cannot be written (full disk, read-only) raises StoreError.
    """
    source = loaded.source(source_name)
    request = Request(
        files, url, since, until, all_sites, add_sites, today, days, reparse, progress
    )
    result = RunResult(source=source.name, dry_run=dry_run, timezone=loaded.config.timezone)
    store = open_store(loaded, db)
    try:
        with store.writer_lock(timeout=lock_timeout, on_wait=_say):
            _locked(loaded, store, source, result, request)
    except sqlite3.OperationalError as e:
        raise StoreError(_runs.store_write_error(store.path, e)) from None
    finally:
        store.close()
    if days is None:  # issue 18: rules and messages, after the store is closed; a backfill
        from envwatch import alerts  # checks them once, at its end

        alerts.after_run(loaded, result, db=db)
    return result


def _say(message: str) -> None:
    print(f"envwatch: {message}", file=sys.stderr, flush=True)


def _locked(
    loaded: LoadedConfig, store: Store, source: Any, result: RunResult, request: Request
) -> None:
    store.mark_interrupted_runs()
    result.problems.extend(sync_sites(loaded, store))
    if not result.dry_run:
        _runs.run(loaded, store, source, result, request)
        return
    try:
        with store.transaction():
            _runs.run(loaded, store, source, result, request)
            raise _DryRunRollback
    except _DryRunRollback:
        pass


def backfill(
    loaded: LoadedConfig,
    source_name: str,
    since: date,
    until: date,
    *,
    db: str | Path | None = None,
    chunk_days: int = 7,
    all_sites: bool = False,
    refetch: bool = False,
    lock_timeout: float = 600.0,
    progress: Callable[[str], None] | None = None,
) -> list[RunResult]:
    """Fetch the days since … until (local, inclusive) in runs of `chunk_days` days.

    Days already fetched successfully are skipped (unless `refetch`), so an interrupted
    backfill resumes where it stopped. `progress` is called with each day's payload name.
    """
    source = loaded.source(source_name)
    entry = registry.get(source.kind)
    if entry is None or not entry.windowed:
        raise UsageError(
            f"backfill works day by day, for sources of kind {', '.join(registry.windowed())}; "
            f"'{source.name}' is {source.kind}: use `envwatch ingest`"
        )
    if since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    wanted = _window.days((since, until))
    if not refetch:
        done = done_days(loaded, source_name, db)
        wanted = [d for d in wanted if d not in done]
    results = []
    for i in range(0, len(wanted), chunk_days):
        chunk = wanted[i : i + chunk_days]
        results.append(
            ingest(
                loaded,
                source_name,
                db=db,
                all_sites=all_sites,
                lock_timeout=lock_timeout,
                since=chunk[0],
                until=chunk[-1],
                days=chunk,
                progress=progress,
            )
        )
    if results:
        from envwatch import alerts

        alerts.after_run(loaded, results[-1], db=db)
    return results


def done_days(loaded: LoadedConfig, source_name: str, db: str | Path | None = None) -> set[date]:
    """Days whose payload was stored successfully by some run of the source (and not withdrawn)."""
    store = open_store(loaded, db)
    try:
        rows = store.conn.execute(
            "SELECT DISTINCT name FROM run_payloads WHERE source = ? AND status IN ('ok', 'partial') "
            "AND sha256 NOT IN (SELECT sha256 FROM run_payloads WHERE status = 'withdrawn' "
            "AND sha256 IS NOT NULL)",
            (source_name,),
        ).fetchall()
    finally:
        store.close()
    return {d for (name,) in rows if (d := _window.day_in_name(name)) is not None}


def reparse(
    loaded: LoadedConfig,
    source_name: str | None = None,
    *,
    db: str | Path | None = None,
    all_sites: bool = False,
    lock_timeout: float = 600.0,
    progress: Callable[[str], None] | None = None,
) -> list[RunResult]:
    """Re-read every archived payload of a source (or of all sources) with today's readers.

    Idempotent: values that come out the same are unchanged; a parser fix shows as revisions.
    Withdrawn payloads are never read again.
    """
    if source_name:
        loaded.source(source_name)  # an unknown name is an error, with a suggestion
    store = open_store(loaded, db)
    try:
        archived = {
            r[0]
            for r in store.conn.execute(
                "SELECT DISTINCT source FROM run_payloads WHERE sha256 IS NOT NULL "
                "AND sha256 NOT IN (SELECT sha256 FROM run_payloads WHERE status = 'withdrawn' "
                "AND sha256 IS NOT NULL)"
            )
        }
    finally:
        store.close()
    names = [
        s.name
        for s in loaded.config.sources
        if s.name in archived and (source_name is None or s.name == source_name)
    ]
    if not names:
        raise UsageError(
            f"no archived payloads of {source_name or 'any source'} to re-read; "
            "ingest something first"
        )
    return [
        ingest(
            loaded,
            name,
            db=db,
            all_sites=all_sites,
            lock_timeout=lock_timeout,
            reparse=True,
            progress=progress,
        )
        for name in names
    ]


def withdraw(
    loaded: LoadedConfig,
    target: str,
    *,
    reason: str | None = None,
    db: str | Path | None = None,
    lock_timeout: float = 600.0,
) -> WithdrawResult:
    """Withdraw the payload(s) of a run (RUN_ID) or one payload (its sha256, or a prefix of
    8 or more hex digits): their values come out of the store (see `envwatch.ingest.withdraw`),
    derived rows are recomputed, and a ``withdraw`` run records it in the ledger."""
    from envwatch.ingest.withdraw import withdraw as run_withdraw

    store = open_store(loaded, db)
    try:
        with store.writer_lock(timeout=lock_timeout, on_wait=_say):
            store.mark_interrupted_runs()
            return run_withdraw(loaded, store, target, reason=reason)
    except sqlite3.OperationalError as e:
        raise StoreError(_runs.store_write_error(store.path, e)) from None
    finally:
        store.close()
