"""One run's walk over its payloads: archive -> read -> normalise -> upsert -> derive.

Each payload is archived first, in its own transaction, so that the bytes are kept even when
they cannot be parsed; then its sites, observations, rejects and derived rows are written in
one transaction, so a payload that fails leaves nothing behind (not even the sites it would
have added). Any error reading one payload fails that payload alone, with a one-line message;
the rest are read and the run is partial. A store that cannot be written (full disk,
read-only) stops the run: that is `StoreError`, exit 2.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from envwatch import air, outfalls, water
from envwatch.config import LoadedConfig, Source
from envwatch.errors import EnvwatchError, FetchError, StoreError, UsageError
from envwatch.ingest import fetch, window
from envwatch.ingest.fetch import Payload
from envwatch.ingest.normalise import normalise
from envwatch.redaction import redact
from envwatch.sources.base import Reading, Reject
from envwatch.sources.registry import SourceKind, get, resolve
from envwatch.store import SITE_COLUMNS, Store, UpsertCounts, utcnow

log = logging.getLogger("envwatch.ingest")


@dataclass
class RunResult:
    """What one ingest run did; `summary()` is the line staff see."""

    source: str
    run_id: int | None = None
    status: str = "ok"
    payloads: int = 0
    failed_payloads: int = 0
    fetched: int = 0
    new: int = 0
    revised: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped_unregistered: int = 0
    derived_hours: int = 0
    derived_days: int = 0
    derived_samples: int = 0
    derived_periods: int = 0
    mismatches: int = 0
    faults: dict[str, Any] = field(default_factory=dict)
    unregistered_sites: set[str] = field(default_factory=set)
    data_from: datetime | None = None
    data_to: datetime | None = None
    problems: list[str] = field(default_factory=list)
    dry_run: bool = False
    timezone: str = "Asia/Shanghai"

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "partial": 1}.get(self.status, 2)

    def summary(self) -> str:
        span = ""
        if self.data_from is not None and self.data_to is not None:
            tz = ZoneInfo(self.timezone)
            span = (
                f", data {self.data_from.astimezone(tz):%Y-%m-%d %H:%M} … "
                f"{self.data_to.astimezone(tz):%Y-%m-%d %H:%M} (local time)"
            )
        head = "dry run, nothing written: " if self.dry_run else f"run {self.run_id} "
        text = (
            f"{self.source}: {head}{self.status} — {self.payloads} payload(s), "
            f"{self.fetched:,} values read, {self.new:,} new, {self.revised:,} revised, "
            f"{self.unchanged:,} unchanged, {self.rejected:,} rejected{span}"
        )
        if self.skipped_unregistered:
            text += (
                f"\n  skipped {self.skipped_unregistered:,} values of "
                f"{len(self.unregistered_sites):,} sites not in the registry "
                "(add them to stations.yaml, or use --all-sites to keep every site)"
            )
        return text

    def add(self, other: PayloadResult) -> None:
        """Count one payload's stored values."""
        for name in ("new", "revised", "unchanged", "rejected", "derived_hours", "derived_days"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.derived_samples += other.derived_samples
        self.derived_periods += other.derived_periods
        self.mismatches += other.mismatches


@dataclass
class PayloadResult:
    """What one payload's transaction stored."""

    new: int = 0
    revised: int = 0
    unchanged: int = 0
    rejected: int = 0
    derived_hours: int = 0
    derived_days: int = 0
    derived_samples: int = 0
    derived_periods: int = 0
    mismatches: int = 0
    nothing: bool = False  # every row rejected: the payload failed


@dataclass
class Request:
    """What the caller asked of a run."""

    files: Sequence[str | Path] = ()
    url: str | None = None
    since: date | None = None
    until: date | None = None
    all_sites: bool = False
    add_sites: bool = False
    today: date | None = None
    days: Sequence[date] | None = None  # fetch exactly these days (backfill)
    reparse: bool = False  # re-read the archived payloads instead of fetching
    progress: Callable[[str], None] | None = None  # called after each payload


@dataclass
class Run:
    """What one run needs while it walks its payloads."""

    loaded: LoadedConfig
    store: Store
    source: Source
    entry: SourceKind
    result: RunResult
    run_id: int
    all_sites: bool
    add_sites: bool
    registry: set[str]
    now: datetime
    station_list: pd.DataFrame | None = None
    pager: fetch.Pager = field(default_factory=fetch.Pager)


def entry_of(source: Source) -> SourceKind:
    """The registry entry of the source's kind; UsageError if this version cannot ingest it."""
    entry = get(source.kind)
    if entry is None:
        raise UsageError(
            f"source kind '{source.kind}' cannot be ingested by this version of envwatch yet"
        )
    return entry


def run(
    loaded: LoadedConfig, store: Store, source: Source, result: RunResult, request: Request
) -> None:
    """Run one ingest of `source` (the caller holds the writer lock); fills `result`."""
    entry = entry_of(source)
    if entry.staff_sheet and not request.files and not source.folder and not request.reparse:
        raise UsageError(
            f"source '{source.name}' reads staff sheets: give them with --file PATH "
            "(or set `folder:` in the config)"
        )
    span = (
        window.window(loaded, store, source, request.since, request.until, request.today)
        if entry.windowed and not request.reparse
        else None
    )
    run_id = store.start_run(
        source.name,
        "reparse" if request.reparse else source.kind,
        (window.midnight(span[0], loaded.tz), window.midnight(span[1] + _DAY, loaded.tz))
        if span
        else (None, None),
        dry_run=result.dry_run,
    )
    result.run_id = run_id
    ctx = Run(
        loaded,
        store,
        source,
        entry,
        result,
        run_id,
        request.all_sites,
        request.add_sites,
        store.site_ids(),
        utcnow(),
    )
    try:
        _walk(ctx, request, span)
    except EnvwatchError as e:
        result.problems.append(str(e))
        result.status = "failed"
        store.finish_run(run_id, "failed", error=str(e)[:2000], **counts(result))
        return
    except BaseException as e:
        _close_interrupted(store, run_id, result, e)
        raise
    _conclude(ctx)


_DAY = timedelta(days=1)


def _walk(ctx: Run, request: Request, span: tuple[date, date] | None) -> None:
    if request.all_sites and ctx.source.station_list:
        ctx.station_list = fetch.station_list(ctx.loaded, ctx.source, ctx.entry)
    if request.reparse:
        payloads = archived(ctx.store, ctx.source.name)
    else:
        days = list(request.days) if request.days is not None else window.days(span)
        payloads = fetch.payloads(
            ctx.loaded,
            ctx.source,
            ctx.entry,
            files=request.files,
            url=request.url,
            days=days,
            pager=ctx.pager,
            faults=lambda stats: setattr(ctx.result, "faults", stats),
        )
    for payload in payloads:
        ingest_payload(ctx, payload)
        if request.progress is not None:
            request.progress(payload.name)


def _close_interrupted(store: Store, run_id: int, result: RunResult, e: BaseException) -> None:
    """Record an interrupted run; a store that cannot be written is said once, not twice."""
    try:
        store.finish_run(
            run_id, "failed", error=f"interrupted: {type(e).__name__}", **counts(result)
        )
    except sqlite3.Error:
        log.debug("could not record the end of run %s", run_id, exc_info=True)


def _conclude(ctx: Run) -> None:
    result = ctx.result
    if result.payloads == 0:
        result.status = "failed"
        result.problems.append(
            f"{ctx.source.name}: nothing to ingest (no files or days in the window)"
        )
    elif result.failed_payloads == result.payloads:
        result.status = "failed"
    elif result.failed_payloads or result.rejected:
        result.status = "partial"
    else:
        result.status = "ok"
    error = "; ".join(result.problems)[:2000] or None
    ctx.store.finish_run(ctx.run_id, result.status, error=error, **counts(result))


def counts(result: RunResult) -> dict[str, Any]:
    """The ledger's counts of a run."""
    return {
        "payloads": result.payloads,
        "fetched": result.fetched,
        "new": result.new,
        "revised": result.revised,
        "unchanged": result.unchanged,
        "rejected": result.rejected,
        "data_from": int(result.data_from.timestamp()) if result.data_from else None,
        "data_to": int(result.data_to.timestamp()) if result.data_to else None,
        "mismatches": result.mismatches,
        "faults": json.dumps(result.faults, ensure_ascii=False) if result.faults else None,
    }


def archived(store: Store, source: str) -> Iterator[Payload]:
    """The source's archived payloads, each once (its latest name), oldest fetch first.

    Withdrawn payloads (`envwatch withdraw`) are never read again.
    """
    rows = store.conn.execute(
        "SELECT sha256, name, max(fetched_at) FROM run_payloads WHERE source = ? "
        "AND sha256 IS NOT NULL AND sha256 NOT IN "
        "(SELECT sha256 FROM run_payloads WHERE status = 'withdrawn' AND sha256 IS NOT NULL) "
        "GROUP BY sha256 ORDER BY 3, 2",
        (source,),
    ).fetchall()
    for sha, name, fetched in rows:
        when = datetime.strptime(fetched, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        yield Payload(name, lambda sha=sha: store.payload(sha), when)  # type: ignore[misc]


# -- one payload ---------------------------------------------------------------------------


def ingest_payload(ctx: Run, payload: Payload) -> None:
    """Archive, read and store one payload; any failure of this payload is this payload's."""
    store, result = ctx.store, ctx.result
    result.payloads += 1
    try:
        data = payload.load()
    except FetchError as e:
        _failed(ctx, payload, None, str(e))
        return
    except Exception as e:  # noqa: BLE001 - an unreadable file fails alone (OSError, MemoryError)
        _failed(ctx, payload, None, _cannot(payload, e))
        return
    sha = _write(store, lambda: store.archive(data))
    try:
        reading = read(ctx, payload, data)
        obs, rejects = normalise(reading, _units(ctx.loaded), now=ctx.now)
    except EnvwatchError as e:
        _failed(ctx, payload, sha, str(e))
        return
    except Exception as e:  # noqa: BLE001 - a reader's crash fails this payload alone
        log.debug("reading %s failed", payload.name, exc_info=True)
        _failed(ctx, payload, sha, _cannot(payload, e))
        return
    result.fetched += len(reading.observations) + (
        len(reading.records) if reading.records is not None else 0
    )
    try:
        stored = _write(store, lambda: _store(ctx, payload, sha, reading, obs, rejects))
    except StoreError:
        raise
    except Exception as e:  # noqa: BLE001 - e.g. a record the store refuses
        log.debug("storing %s failed", payload.name, exc_info=True)
        _failed(ctx, payload, sha, _cannot(payload, e))
        return
    _account(ctx, payload, obs, rejects, stored)


def _write(store: Store, job: Callable[[], Any]) -> Any:
    """Run a write; a store that cannot be written becomes StoreError (exit 2) with what to do."""
    try:
        return job()
    except sqlite3.OperationalError as e:
        raise StoreError(store_write_error(store.path, e)) from None


def store_write_error(path: Path, e: sqlite3.Error) -> str:
    """The message for a store that refused a write: disk full, read-only, I/O error."""
    text = str(e)
    if "full" in text:
        todo = "free disk space on that drive, then run the same command again"
    elif "readonly" in text or "read-only" in text:
        todo = "the store or its folder is read-only: fix the permissions or use --db PATH"
    elif "I/O" in text:
        todo = "the disk reported an error: check it, then run the same command again"
    else:
        todo = "check the disk and the permissions, then run the same command again"
    return f"{path}: cannot write the store ({text}); {todo}"


def _cannot(payload: Payload, e: BaseException) -> str:
    """One line for a payload that could not be read, whatever the exception."""
    if isinstance(e, MemoryError):
        what = "it is too large to read in memory"
    elif isinstance(e, RecursionError):
        what = "it is nested too deeply to read"
    elif isinstance(e, IsADirectoryError):
        what = "it is a folder"
    elif isinstance(e, OSError):
        what = f"it cannot be read ({e.strerror or e})"
    else:
        lines = str(e).splitlines()
        detail = redact(lines[0], limit=200) if lines else ""  # redact, then cut (issue 15)
        what = f"it is damaged or not in the expected format ({type(e).__name__}{': ' if detail else ''}{detail})"
    return f"{payload.name}: skipped, {what}; check the file, replace or remove it, and run again"


def _failed(ctx: Run, payload: Payload, sha: str | None, message: str) -> None:
    ctx.result.failed_payloads += 1
    ctx.result.problems.append(message)
    _write(
        ctx.store,
        lambda: ctx.store.record_payload(
            ctx.run_id,
            payload.name,
            sha,
            ctx.source.name,
            payload.fetched_at,
            "failed",
            error=message,
        ),
    )


def _units(loaded: LoadedConfig) -> dict[str, str]:
    return {i.id: i.unit for i in loaded.config.indicators}


def read(ctx: Run, payload: Payload, data: bytes) -> Reading:
    """Read one payload with the kind's reader, giving it what it asks for."""
    entry, cfg = ctx.entry, ctx.loaded.config
    available: dict[str, Any] = {
        "name": payload.name,
        "tz": cfg.timezone,
        "now": ctx.now,
        "fetched_at": payload.fetched_at,
        "add_sites": ctx.add_sites,
        "district": cfg.region.district,
    }
    if entry.wants("known_sites"):
        available["known_sites"] = ctx.store.sites(entry.site_kind)
    if entry.wants("indicators"):
        available["indicators"] = pd.DataFrame(
            [
                {"id": i.id, "name": i.name, "unit": i.unit, "aliases": i.aliases}
                for i in cfg.indicators
            ],
            columns=["id", "name", "unit", "aliases"],
        )
    if entry.wants("cell_types"):
        available["cell_types"] = pd.DataFrame(
            [{"type": c.type, "aliases": c.aliases} for c in cfg.cell_types],
            columns=["type", "aliases"],
        )
    reading = entry.read(data, **available)
    if reading.pages is not None:
        ctx.pager.total = reading.pages
    if entry.averaging is not None:
        reading.observations["averaging"] = entry.averaging
    return reading


def _store(
    ctx: Run,
    payload: Payload,
    sha: str,
    reading: Reading,
    obs: pd.DataFrame,
    rejects: list[Reject],
) -> tuple[PayloadResult, pd.DataFrame, set[str]]:
    """One transaction: sites, observations, rejects, derived rows, records, ledger row."""
    store, result, tz = ctx.store, ctx.result, ctx.loaded.config.timezone
    out = PayloadResult(rejected=len(rejects))
    with store.transaction():
        added = register_sites(ctx, reading, obs)
        known = ctx.registry | added
        codes, ids = pd.factorize(obs["site_id"])
        unknown = ~np.isin(np.asarray(ids, dtype=object), list(known))[codes]
        if unknown.any():
            result.skipped_unregistered += int(unknown.sum())
            result.unregistered_sites.update(obs.loc[unknown, "site_id"].unique().tolist())
            obs = obs.loc[~unknown]
        upsert = store.upsert_observations(obs, ctx.run_id)
        store.add_rejects(ctx.run_id, ctx.source.name, payload.name, rejects)
        derived = air.derive(store, upsert.written, upsert.state, tz)
        out.derived_samples, out.derived_periods = water.derive(
            store, upsert.written, ctx.source.name, tz
        )
        outfalls.derive(store, upsert.written, ctx.loaded.config.outfall_limits)
        records = store_records(ctx, reading)
        upsert.counts += records
        out.derived_hours, out.derived_days = derived.hours, derived.days
        out.mismatches = derived.mismatches
        out.new, out.revised = upsert.counts.new, upsert.counts.revised
        out.unchanged = upsert.counts.unchanged
        # a payload whose every row was rejected has nothing usable: it failed
        out.nothing = obs.empty and bool(rejects) and not (out.new + out.revised + out.unchanged)
        store.record_payload(
            ctx.run_id,
            payload.name,
            sha,
            ctx.source.name,
            payload.fetched_at,
            "failed" if out.nothing else "partial" if rejects else "ok",
            values_read=len(reading.observations),
            rejected=len(rejects),
        )
    return out, obs, added


def _account(
    ctx: Run,
    payload: Payload,
    obs: pd.DataFrame,
    rejects: list[Reject],
    stored: tuple[PayloadResult, pd.DataFrame, set[str]],
) -> None:
    """After the payload's commit: its counts, its problems and its span of data."""
    out, obs, added = stored
    result = ctx.result
    ctx.registry.update(added)
    if out.nothing:
        result.failed_payloads += 1
    result.add(out)
    if rejects:
        first = rejects[0]
        more = (
            f" (and {len(rejects) - 1} more: `envwatch query "
            f'"select * from rejects where run_id = {ctx.run_id}"`)'
            if len(rejects) > 1
            else ""
        )
        result.problems.append(f"{payload.name}: {first.location}: {first.reason}{more}")
    if not obs.empty:
        lo = datetime.fromtimestamp(int(obs["period_end"].min()), tz=UTC)
        hi = datetime.fromtimestamp(int(obs["period_end"].max()), tz=UTC)
        result.data_from = min(result.data_from, lo) if result.data_from else lo
        result.data_to = max(result.data_to, hi) if result.data_to else hi


# -- registers and sites -------------------------------------------------------------------


def store_records(ctx: Run, reading: Reading) -> UpsertCounts:
    """Zones and cells: register rows, with their district from their coordinates."""
    counts = UpsertCounts()
    register = ctx.entry.register
    if register is None or reading.records is None or reading.records.empty:
        return counts
    records = reading.records.copy()
    locate(ctx.loaded, records)
    cols = [*resolve(register.columns), "district"]
    for c in cols:
        if c not in records:
            records[c] = None
    for c in records.columns:
        if records[c].map(lambda v: isinstance(v, date)).any():
            records[c] = records[c].map(lambda v: v.isoformat() if isinstance(v, date) else v)
    return ctx.store.upsert_records(register.table, register.key, records[cols], cols, ctx.run_id)


def register_sites(ctx: Run, reading: Reading, obs: pd.DataFrame) -> set[str]:
    """Add the payload's unknown sites to the registry when asked (--all-sites, --add-sites).

    Called inside the payload's transaction: the sites go if the payload fails. Returns the
    ids added (the caller adds them to `ctx.registry` once the payload is committed).
    """
    entry = ctx.entry
    if "new" in reading.sites.columns:
        # a staff sheet's reader already decided which sites are new (--add-sites)
        new = reading.sites.loc[reading.sites["new"].astype(bool)].drop(columns=["new"])
        if new.empty:
            return set()
        locate(ctx.loaded, new)
        add_sites(ctx.store, new, entry.site_kind or "water", "sheet")
        return set(new["site_id"].tolist())
    if entry.area_site:
        return {ctx.loaded.config.region.district}
    if entry.staff_sheet:
        return set()
    unknown_ids = sorted(set(obs["site_id"].unique().tolist()) - ctx.registry)
    if not unknown_ids or not ctx.all_sites or entry.site_kind is None:
        return set()
    info = reading.sites.drop_duplicates("site_id")
    if ctx.station_list is not None:
        info = ctx.station_list
    new = pd.DataFrame({"site_id": unknown_ids}).merge(info, on="site_id", how="left")
    if entry.new_sites is not None:
        new = entry.new_sites(new)
    add_sites(ctx.store, new, entry.site_kind, "feed")
    return set(unknown_ids)


def locate(loaded: LoadedConfig, sites: pd.DataFrame) -> None:
    """Give new sites with WGS-84 coordinates in the region's city their district, in place."""
    if "lon" not in sites or "lat" not in sites:
        return
    has = sites["lon"].notna() & sites["lat"].notna()
    if not has.any():
        return
    from envwatch import geo  # loads the boundaries (geopandas): only for new sites

    region = loaded.config.region
    found = geo.assign_districts(
        sites.loc[has, "lon"].astype(float).tolist(),
        sites.loc[has, "lat"].astype(float).tolist(),
        region.province,
        region.city,
    )
    sites.loc[has, "district"] = found
    sites.loc[has, "city"] = [region.city if d else None for d in found]
    sites.loc[has, "province"] = [region.province if d else None for d in found]
    sites.loc[has, "district_source"] = ["boundary" if d else None for d in found]


def add_sites(store: Store, new: pd.DataFrame, kind: str, origin: str) -> None:
    """Add sites (site_id, name and what else the source says) to the registry."""
    new = new.copy()
    new["name"] = new["name"].fillna(new["site_id"]) if "name" in new else new["site_id"]
    new["kind"] = kind
    new["origin"] = origin
    if "crs_source" not in new:
        new["crs_source"] = "wgs84"
    rows = [
        {k: v for k, v in r.items() if k in SITE_COLUMNS}
        for r in new.astype(object).where(new.notna(), None).to_dict(orient="records")
    ]
    store.upsert_sites(rows)
