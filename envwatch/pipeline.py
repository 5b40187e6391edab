"""One ingest run: window from the ledger -> fetch -> archive -> read -> normalise -> upsert -> derive.

Each payload (a day's file, a page of a feed, a staff sheet) is archived first, in its own
transaction, so that the bytes are kept even when they cannot be parsed; then its observations,
rejects and derived rows are written in one transaction. A run that is interrupted keeps the
payloads it finished; the next run re-fetches from its window and stores nothing twice.

Exit status of a run: 0 ok, 1 partial (some rows rejected or some payloads failed, the rest
stored), 2 failed (nothing usable).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from envwatch import air, geo, outfalls, water
from envwatch.config import LoadedConfig, Source, parse_duration
from envwatch.errors import ConfigError, EnvwatchError, FetchError, ParseError, UsageError
from envwatch.sources import (
    cells_sheet,
    cnemc_air_archive,
    cnemc_air_live,
    cnemc_water,
    lab_sheet,
    zone_sheet,
)
from envwatch.sources.base import Reading, Reject
from envwatch.store import PARAMETERS, SITE_COLUMNS, Store, UpsertCounts, utcnow

log = logging.getLogger("envwatch.ingest")

# Conversions into the canonical unit of each parameter (store.PARAMETERS): (from, to) -> factor.
UNIT_FACTORS = {
    ("µg/m³", "mg/m³"): 0.001,
    ("mg/m³", "µg/m³"): 1000.0,
}


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


@dataclass
class Payload:
    """A payload to fetch lazily: `name` is a file name or a URL (secrets as {NAME})."""

    name: str
    load: Callable[[], bytes]
    fetched_at: datetime = field(default_factory=utcnow)


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
    cfg = loaded.config
    store.register_parameters([(i.id, i.name, i.unit, "indicator") for i in cfg.indicators])
    digest = hashlib.sha256(
        json.dumps(
            [cfg.region.model_dump(), [s.model_dump() for s in cfg.sites]],
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
    ).hexdigest()
    if store.get_meta("config_sites_sha256") == digest:
        return []
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


@dataclass
class _Request:
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
    another run holding the store's write lock.
    """
    source = loaded.source(source_name)
    request = _Request(
        files, url, since, until, all_sites, add_sites, today, days, reparse, progress
    )
    result = RunResult(source=source.name, dry_run=dry_run, timezone=loaded.config.timezone)
    store = open_store(loaded, db)
    try:
        with store.writer_lock(timeout=lock_timeout):
            store.mark_interrupted_runs()
            result.problems.extend(sync_sites(loaded, store))
            if dry_run:
                try:
                    with store.transaction():
                        _run(loaded, store, source, result, request)
                        raise _DryRunRollback
                except _DryRunRollback:
                    pass
            else:
                _run(loaded, store, source, result, request)
    finally:
        store.close()
    if days is None:  # issue 18: rules and messages, after the store is closed; a backfill
        from envwatch import alerts  # checks them once, at its end

        alerts.after_run(loaded, result, db=db)
    return result


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
    if source.kind not in WINDOWED:
        raise UsageError(
            f"backfill works day by day, for sources of kind {', '.join(WINDOWED)}; "
            f"'{source.name}' is {source.kind}: use `envwatch ingest`"
        )
    if since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    wanted = _days((since, until))
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
    """Days whose payload was stored successfully by some run of the source."""
    store = open_store(loaded, db)
    try:
        rows = store.conn.execute(
            "SELECT DISTINCT name FROM run_payloads WHERE source = ? AND status IN ('ok', 'partial')",
            (source_name,),
        ).fetchall()
    finally:
        store.close()
    out = set()
    for (name,) in rows:
        m = _DAY_IN_NAME.search(name)
        if m:
            out.add(date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    return out


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
    """
    if source_name:
        loaded.source(source_name)  # an unknown name is an error, with a suggestion
    store = open_store(loaded, db)
    try:
        archived = {
            r[0]
            for r in store.conn.execute(
                "SELECT DISTINCT source FROM run_payloads WHERE sha256 IS NOT NULL"
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


@dataclass
class _Run:
    """What one run needs while it walks its payloads."""

    loaded: LoadedConfig
    store: Store
    source: Source
    result: RunResult
    run_id: int
    all_sites: bool
    add_sites: bool
    registry: set[str]
    station_list: pd.DataFrame | None = None
    total_pages: int | None = None


WINDOWED = ("cnemc-air-archive",)
SHEETS = ("lab-sheet", "outfall-sheet", "zone-sheet", "indicator-sheet", "cells-sheet")
SUPPORTED = ("cnemc-air-archive", "cnemc-air-live", "cnemc-water", *SHEETS)


def _run(
    loaded: LoadedConfig,
    store: Store,
    source: Source,
    result: RunResult,
    request: _Request,
) -> None:
    if source.kind not in SUPPORTED:
        raise UsageError(
            f"source kind '{source.kind}' cannot be ingested by this version of envwatch yet"
        )
    files = request.files
    if source.kind in SHEETS and not files and not source.folder and not request.reparse:
        raise UsageError(
            f"source '{source.name}' reads staff sheets: give them with --file PATH "
            "(or set `folder:` in the config)"
        )
    window = (
        _window(loaded, store, source, request.since, request.until, request.today)
        if source.kind in WINDOWED and not request.reparse
        else None
    )
    run_id = store.start_run(
        source.name,
        "reparse" if request.reparse else source.kind,
        (_midnight(window[0], loaded.tz), _midnight(window[1] + timedelta(days=1), loaded.tz))
        if window
        else (None, None),
        dry_run=result.dry_run,
    )
    result.run_id = run_id
    ctx = _Run(
        loaded,
        store,
        source,
        result,
        run_id,
        request.all_sites,
        request.add_sites,
        store.site_ids(),
    )
    try:
        if request.all_sites and source.station_list:
            ctx.station_list = _station_list(loaded, source)
        if request.reparse:
            payloads = _archived(ctx)
        else:
            days = list(request.days) if request.days is not None else _days(window)
            payloads = _payloads(ctx, files, request.url, days)
        for payload in payloads:
            _ingest_payload(ctx, payload)
            if request.progress is not None:
                request.progress(payload.name)
    except EnvwatchError as e:
        result.problems.append(str(e))
        result.status = "failed"
        store.finish_run(run_id, "failed", error=str(e)[:2000], **_counts(result))
        return
    except BaseException as e:
        store.finish_run(
            run_id, "failed", error=f"interrupted: {type(e).__name__}", **_counts(result)
        )
        raise
    if result.payloads == 0:
        result.status = "failed"
        result.problems.append(f"{source.name}: nothing to ingest (no files or days in the window)")
    elif result.failed_payloads == result.payloads:
        result.status = "failed"
    elif result.failed_payloads or result.rejected:
        result.status = "partial"
    else:
        result.status = "ok"
    error = "; ".join(result.problems)[:2000] or None
    store.finish_run(run_id, result.status, error=error, **_counts(result))


def _counts(result: RunResult) -> dict[str, Any]:
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


def _midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)


def _window(
    loaded: LoadedConfig,
    store: Store,
    source: Source,
    since: date | None,
    until: date | None,
    today: date | None,
) -> tuple[date, date] | None:
    """Local dates to fetch, inclusive.

    From the newest good data minus the lookback (late and revised data), or from the earliest
    day that failed and has not been fetched since, whichever is earlier, to today; never more
    than `max_catchup` back (older gaps are for `envwatch backfill`).
    """
    today = today or datetime.now(loaded.tz).date()
    if since is None:
        row = store.conn.execute(
            "SELECT max(data_to) FROM run_ledger WHERE source = ? AND status IN ('ok', 'partial') "
            "AND dry_run = 0",
            (source.name,),
        ).fetchone()
        if row and row[0] is not None:
            newest = datetime.fromtimestamp(row[0], tz=loaded.tz)
            since = (newest - source.lookback_delta).date()
        else:
            since = today - max(source.lookback_delta, timedelta(days=1))
        failed = failed_days(store, source.name)
        if failed:
            since = min(since, failed[0])
        floor = today - parse_duration(source.max_catchup)
        since = max(since, floor)
    until = until or today
    if since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    return since, until


_DAY_IN_NAME = re.compile(r"(20\d{2})(\d{2})(\d{2})")


def failed_days(store: Store, source: str) -> list[date]:
    """Days whose payload failed and was not fetched successfully since, oldest first."""
    rows = store.conn.execute(
        "SELECT DISTINCT f.name FROM run_payloads f WHERE f.source = ? AND f.status = 'failed' "
        "AND NOT EXISTS (SELECT 1 FROM run_payloads g WHERE g.source = f.source "
        "AND g.name = f.name AND g.status IN ('ok', 'partial') AND g.run_id > f.run_id)",
        (source,),
    ).fetchall()
    days = set()
    for (name,) in rows:
        m = _DAY_IN_NAME.search(name)
        if m:
            try:
                days.add(date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
            except ValueError:
                continue
    return sorted(days)


def _days(window: tuple[date, date] | None) -> list[date]:
    if window is None:
        return []
    n = (window[1] - window[0]).days
    return [window[0] + timedelta(days=i) for i in range(n + 1)]


def _local_files(files: Sequence[str | Path], patterns: Sequence[str]) -> Iterator[Payload]:
    for f in files:
        p = Path(f)
        if p.is_dir():
            found = sorted({q for pattern in patterns for q in p.glob(pattern)})
            if not found:
                raise UsageError(f"{p}: no {' or '.join(patterns)} files in this folder")
            for q in found:
                yield Payload(q.name, q.read_bytes, _mtime(q))
        elif p.exists():
            yield Payload(p.name, p.read_bytes, _mtime(p))
        else:
            raise UsageError(f"{p}: no such file")


def _mtime(p: Path) -> datetime:
    return min(datetime.fromtimestamp(p.stat().st_mtime, tz=UTC), utcnow())


def _archived(ctx: _Run) -> Iterator[Payload]:
    """The source's archived payloads, each once (its latest name), oldest fetch first."""
    rows = ctx.store.conn.execute(
        "SELECT sha256, name, max(fetched_at) FROM run_payloads WHERE source = ? "
        "AND sha256 IS NOT NULL GROUP BY sha256 ORDER BY 3, 2",
        (ctx.source.name,),
    ).fetchall()
    for sha, name, fetched in rows:
        when = datetime.strptime(fetched, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        yield Payload(name, lambda sha=sha: ctx.store.payload(sha), when)  # type: ignore[misc]


def _payloads(
    ctx: _Run, files: Sequence[str | Path], url: str | None, days: list[date]
) -> Iterator[Payload]:
    """The payloads of a run, fetched lazily (a day or a page at a time)."""
    source, loaded = ctx.source, ctx.loaded
    kind = source.kind
    patterns = {
        "cnemc-air-archive": ("china_sites_*.csv",),
        "cnemc-air-live": ("*.json",),
        "cnemc-water": ("*.json",),
        "lab-sheet": ("*.csv", "*.xlsx"),
        "outfall-sheet": ("*.csv", "*.xlsx"),
        "zone-sheet": ("*.csv", "*.xlsx", "*.geojson", "*.json"),
        "indicator-sheet": ("*.csv", "*.xlsx"),
        "cells-sheet": ("*.csv", "*.xlsx"),
    }[kind]
    if files:
        yield from _local_files(files, patterns)
        return
    if kind in SHEETS:
        folder = loaded.resolve(source.folder)
        assert folder is not None
        yield from _local_files([folder], patterns)
        return
    template = url or source.url
    if kind in ("cnemc-water", "cnemc-air-live") and not template:
        folder = loaded.resolve(source.folder)
        assert folder is not None
        yield from _local_files([folder], patterns)
        return
    if kind == "cnemc-air-live":
        # one snapshot of every station per run; late hours are the feed's own problem
        from envwatch.http import HttpClient, policy_from_config

        assert template is not None
        with HttpClient(policy_from_config(source.http), secrets=source_secrets(source)) as client:
            yield Payload(template, lambda: cnemc_air_live.fetch(client, template))
            ctx.result.faults = client.fetch_stats.as_dict()
        return
    if kind == "cnemc-water":
        if not template:
            folder = loaded.resolve(source.folder)
            assert folder is not None
            yield from _local_files([folder], patterns)
            return
        yield from _water_pages(ctx, template)
        return
    if template:
        from envwatch.http import HttpClient, policy_from_config

        with HttpClient(policy_from_config(source.http), secrets=source_secrets(source)) as client:
            ctx.result.faults = client.fetch_stats.as_dict()
            for day in days:
                # Secrets stay {NAME} placeholders here; the client fills them in and redacts.
                target = fill_date(template, day)
                yield Payload(target, lambda target=target: client.get(target))  # type: ignore[misc]
                ctx.result.faults = client.fetch_stats.as_dict()
        return
    folder = loaded.resolve(source.folder)
    assert folder is not None
    for day in days:
        p = folder / cnemc_air_archive.file_name(day)
        yield Payload(p.name, lambda p=p: _read_file(p))  # type: ignore[misc]


def _water_pages(ctx: _Run, url: str) -> Iterator[Payload]:
    """Every page of the national water feed: page 1 tells how many there are."""
    from envwatch.http import HttpClient, policy_from_config

    source = ctx.source
    area = source.area_id or "330000"
    size = source.page_size or 100
    with HttpClient(policy_from_config(source.http), secrets=source_secrets(source)) as client:
        page = 1
        while True:
            form = cnemc_water.form_fields(area, page, size)
            yield Payload(
                f"{url} AreaID={area} page {page}",
                lambda form=form: client.post(url, data=form),  # type: ignore[misc]
            )
            ctx.result.faults = client.fetch_stats.as_dict()
            if ctx.total_pages is None or page >= ctx.total_pages:
                return
            page += 1


def source_secrets(source: Source) -> dict[str, str]:
    """The source's secrets from the environment variables named in its config."""
    out = {}
    for name in source.secrets:
        value = os.environ.get(name)
        if not value:
            raise ConfigError(
                f"source '{source.name}' needs the environment variable {name} (a key or token); "
                "set it in the environment of the cron job or service, never in stations.yaml"
            )
        out[name] = value
    return out


def fill_date(template: str, day: date) -> str:
    """Replace ``{date:%Y%m%d}`` (any strftime format; ``{date}`` is ISO) in a URL template."""
    return re.sub(
        r"\{date(?::([^}]*))?\}", lambda m: day.strftime(m.group(1) or "%Y-%m-%d"), template
    )


def _read_file(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise FetchError(
            f"{p}: no file for this day yet; the next run tries again", retryable=True
        ) from None


def _station_list(loaded: LoadedConfig, source: Source) -> pd.DataFrame | None:
    p = loaded.resolve(source.station_list)
    if p is None:
        return None
    try:
        return cnemc_air_archive.read_station_list(p.read_bytes(), name=str(p))
    except OSError as e:
        raise UsageError(
            f"{p}: cannot read the station list ({e}); fix station_list in the config"
        ) from None


def _read(ctx: _Run, payload: Payload, data: bytes) -> Reading:
    kind, tz = ctx.source.kind, ctx.loaded.config.timezone
    if kind == "cnemc-air-archive":
        return cnemc_air_archive.read(data, name=payload.name, tz=tz)
    if kind == "cnemc-air-live":
        return cnemc_air_live.read(data, name=payload.name, tz=tz)
    if kind == "cnemc-water":
        reading, info = cnemc_water.read_page(
            data, fetched_at=payload.fetched_at, name=payload.name
        )
        ctx.total_pages = info.total_pages
        reading.observations["averaging"] = "auto"
        return reading
    if kind == "lab-sheet":
        reading = lab_sheet.read(
            data,
            name=payload.name,
            known_sites=ctx.store.sites("water"),
            add_sites=ctx.add_sites,
            tz=tz,
        )
        reading.observations["averaging"] = "lab"
        return reading
    return _read_staff_sheet(ctx, payload, data)


def _read_staff_sheet(ctx: _Run, payload: Payload, data: bytes) -> Reading:
    """The zero-discharge and zero-waste sheets (sources/outfall_sheet.py etc.)."""
    from envwatch.sources import indicator_sheet, outfall_sheet

    cfg, tz, now = ctx.loaded.config, ctx.loaded.config.timezone, utcnow()
    kind = ctx.source.kind
    if kind == "outfall-sheet":
        return outfall_sheet.read(
            data,
            name=payload.name,
            known_sites=ctx.store.sites("outfall"),
            add_sites=ctx.add_sites,
            tz=tz,
            now=now,
        )
    if kind == "zone-sheet":
        return zone_sheet.read(data, name=payload.name, tz=tz, now=now)
    if kind == "indicator-sheet":
        table = pd.DataFrame(
            [
                {"id": i.id, "name": i.name, "unit": i.unit, "aliases": i.aliases}
                for i in cfg.indicators
            ],
            columns=["id", "name", "unit", "aliases"],
        )
        return indicator_sheet.read(
            data, name=payload.name, indicators=table, district=cfg.region.district, tz=tz, now=now
        )
    types = pd.DataFrame(
        [{"type": c.type, "aliases": c.aliases} for c in cfg.cell_types],
        columns=["type", "aliases"],
    )
    return cells_sheet.read(data, name=payload.name, cell_types=types, tz=tz, now=now)


def _ingest_payload(ctx: _Run, payload: Payload) -> None:
    store, source, result, run_id = ctx.store, ctx.source, ctx.result, ctx.run_id
    result.payloads += 1
    try:
        data = payload.load()
    except FetchError as e:
        result.failed_payloads += 1
        result.problems.append(str(e))
        store.record_payload(
            run_id, payload.name, None, source.name, payload.fetched_at, "failed", error=str(e)
        )
        return
    sha = store.archive(data)
    try:
        reading = _read(ctx, payload, data)
    except ParseError as e:
        result.failed_payloads += 1
        result.problems.append(str(e))
        store.record_payload(
            run_id, payload.name, sha, source.name, payload.fetched_at, "failed", error=str(e)
        )
        return
    obs, rejects = normalise(reading, {i.id: i.unit for i in ctx.loaded.config.indicators})
    result.fetched += len(reading.observations) + (
        len(reading.records) if reading.records is not None else 0
    )
    _register_sites(ctx, reading, obs)
    unknown = ~obs["site_id"].isin(ctx.registry)
    if unknown.any():
        result.skipped_unregistered += int(unknown.sum())
        result.unregistered_sites.update(obs.loc[unknown, "site_id"].unique().tolist())
        obs = obs.loc[~unknown]
    tz = ctx.loaded.config.timezone
    with store.transaction():
        upsert = store.upsert_observations(obs, run_id)
        store.add_rejects(run_id, source.name, payload.name, rejects)
        derived = air.derive(store, upsert.written, upsert.state, tz)
        samples, periods = water.derive(store, upsert.written, source.name, tz)
        outfalls.derive(store, upsert.written, ctx.loaded.config.outfall_limits)
        records = _store_records(ctx, reading)
        upsert.counts += records
        # a payload whose every row was rejected has nothing usable: it failed
        nothing = (
            obs.empty and bool(rejects) and not (records.new + records.revised + records.unchanged)
        )
        store.record_payload(
            run_id,
            payload.name,
            sha,
            source.name,
            payload.fetched_at,
            "failed" if nothing else "partial" if rejects else "ok",
            values_read=len(reading.observations),
            rejected=len(rejects),
        )
    if nothing:
        result.failed_payloads += 1
    result.derived_hours += derived.hours
    result.derived_days += derived.days
    result.mismatches += derived.mismatches
    result.derived_samples += samples
    result.derived_periods += periods
    result.new += upsert.counts.new
    result.revised += upsert.counts.revised
    result.unchanged += upsert.counts.unchanged
    result.rejected += len(rejects)
    if rejects:
        first = rejects[0]
        more = (
            f' (and {len(rejects) - 1} more: `envwatch query "select * from rejects where run_id = {run_id}"`)'
            if len(rejects) > 1
            else ""
        )
        result.problems.append(f"{payload.name}: {first.location}: {first.reason}{more}")
    if not obs.empty:
        lo = datetime.fromtimestamp(int(obs["period_end"].min()), tz=UTC)
        hi = datetime.fromtimestamp(int(obs["period_end"].max()), tz=UTC)
        result.data_from = min(result.data_from, lo) if result.data_from else lo
        result.data_to = max(result.data_to, hi) if result.data_to else hi


def _store_records(ctx: _Run, reading: Reading) -> UpsertCounts:
    """Zones and cells: register rows, with their district from their coordinates."""
    counts = UpsertCounts()
    if reading.records is None or reading.records.empty:
        return counts
    records = reading.records.copy()
    _locate(ctx.loaded, records)
    if ctx.source.kind == "zone-sheet":
        cols = list(ZONE_COLUMNS)
        table, key = "zones", "zone_id"
    else:
        cols = list(CELL_COLUMNS)
        table, key = "cells", "cell_id"
    for c in cols:
        if c not in records:
            records[c] = None
    for c in records.columns:
        if records[c].map(lambda v: isinstance(v, date)).any():
            records[c] = records[c].map(lambda v: v.isoformat() if isinstance(v, date) else v)
    return ctx.store.upsert_records(table, key, records[cols], cols, ctx.run_id)


# The registers keep the readers' columns, plus the district found from the coordinates.
ZONE_COLUMNS = (*zone_sheet.RECORD_COLUMNS, "district")
CELL_COLUMNS = (*cells_sheet.RECORD_COLUMNS, "district")


def _register_sites(ctx: _Run, reading: Reading, obs: pd.DataFrame) -> None:
    """Add the payload's unknown sites to the registry when asked (--all-sites, --add-sites)."""
    kind = ctx.source.kind
    if kind in ("lab-sheet", "outfall-sheet"):
        # the sheet reader already decided which sites are new (--add-sites)
        if "new" in reading.sites.columns:
            new = reading.sites.loc[reading.sites["new"].astype(bool)].drop(columns=["new"])
            if not new.empty:
                _locate(ctx.loaded, new)
                site_kind = "water" if kind == "lab-sheet" else "outfall"
                _add_sites(ctx.store, new, site_kind, "sheet")
                ctx.registry.update(new["site_id"].tolist())
        return
    if kind == "indicator-sheet":
        ctx.registry.add(ctx.loaded.config.region.district)
        return
    unknown_ids = sorted(set(obs["site_id"].unique().tolist()) - ctx.registry)
    if not unknown_ids or not ctx.all_sites:
        return
    info = reading.sites.drop_duplicates("site_id")
    if kind == "cnemc-air-archive" and ctx.station_list is not None:
        info = ctx.station_list
    new = pd.DataFrame({"site_id": unknown_ids}).merge(info, on="site_id", how="left")
    if kind == "cnemc-water":
        # The feed does not say lake or river: guess from the name, and say it is a guess.
        lake = new["name"].fillna("").str.contains("湖|水库") & ~new["name"].fillna(
            ""
        ).str.contains("出口|坝下")
        new["water_type"] = np.where(lake, "lake", "river")
        new["water_type_guessed"] = True
        _add_sites(ctx.store, new, "water", "feed")
    else:
        _add_sites(ctx.store, new, "air", "feed")
    ctx.registry.update(unknown_ids)


def normalise(
    reading: Reading, units: dict[str, str] | None = None
) -> tuple[pd.DataFrame, list[Reject]]:
    """Canonical units and Unix-second times; unknown parameters and units become rejects.

    `units` adds parameters defined by the configuration (indicators) with their units.
    """
    obs = reading.observations
    rejects = list(reading.rejects)
    canon = obs["parameter"].map({**{k: v[1] for k, v in PARAMETERS.items()}, **(units or {})})
    unknown = canon.isna()
    if unknown.any():
        for p in obs.loc[unknown, "parameter"].unique():
            rejects.append(
                Reject(
                    "payload",
                    f"unknown parameter '{p}'; its values were not stored",
                    parameter=str(p),
                )
            )
        obs = obs.loc[~unknown]
        canon = canon.loc[~unknown]
    value = obs["value"].to_numpy(dtype="float64", copy=True)
    differs = (obs["unit"] != canon).to_numpy()
    if differs.any():
        for (u_from, u_to), g in obs.loc[differs].groupby([obs["unit"][differs], canon[differs]]):
            factor = UNIT_FACTORS.get((str(u_from), str(u_to)))
            idx = obs.index.get_indexer(g.index)
            if factor is None:
                rejects.append(
                    Reject("payload", f"unit '{u_from}' cannot be converted to '{u_to}'")
                )
                value[idx] = np.nan
            else:
                value[idx] = value[idx] * factor
    out = pd.DataFrame(
        {
            "site_id": obs["site_id"].astype(object).to_numpy(),
            "parameter": obs["parameter"].astype(object).to_numpy(),
            "averaging": obs["averaging"].astype(object).to_numpy(),
            "period_end": obs["period_end"].dt.as_unit("s").astype("int64").to_numpy(),
            "value": value,
            "flag": obs["flag"].astype(object).to_numpy(),
        }
    )
    out = out.loc[~(np.isnan(value) & (out["flag"] == "")).to_numpy()]
    dup = out.duplicated(["site_id", "parameter", "averaging", "period_end"], keep="last")
    if dup.any():
        rejects.append(
            Reject(
                "payload",
                f"{int(dup.sum())} values given twice for the same site, time and parameter; the last was kept",
            )
        )
        out = out.loc[~dup]
    return out.reset_index(drop=True), rejects


def _locate(loaded: LoadedConfig, sites: pd.DataFrame) -> None:
    """Give new sites with WGS-84 coordinates in the region's city their district, in place."""
    if "lon" not in sites or "lat" not in sites:
        return
    has = sites["lon"].notna() & sites["lat"].notna()
    if not has.any():
        return
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


def _add_sites(store: Store, new: pd.DataFrame, kind: str, origin: str) -> None:
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
