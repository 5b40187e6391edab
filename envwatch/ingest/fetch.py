"""The payloads of a run, fetched lazily: a day's file, a page of a feed, a staff sheet.

How a kind fetches is declared by its registry entry (`envwatch.sources.registry.Fetch`);
`--file` always wins, then the configured URL, then the configured folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envwatch.config import LoadedConfig, Source
from envwatch.errors import ConfigError, UsageError
from envwatch.ingest import files as local
from envwatch.sources.registry import Fetch, SourceKind, resolve
from envwatch.store import utcnow

if TYPE_CHECKING:
    import pandas as pd

    from envwatch.http import HttpClient


@dataclass
class Payload:
    """A payload to fetch lazily: `name` is a file name or a URL (secrets as {NAME})."""

    name: str
    load: Callable[[], bytes]
    fetched_at: datetime = field(default_factory=utcnow)


class Pager:
    """What a paged feed has told so far: how many pages there are (None: not yet known)."""

    total: int | None = None


def payloads(
    loaded: LoadedConfig,
    source: Source,
    entry: SourceKind,
    *,
    files: Sequence[str | Path],
    url: str | None,
    days: list[date],
    pager: Pager,
    faults: Callable[[dict[str, Any]], None],
) -> Iterator[Payload]:
    """The payloads of a run, in order. `faults` receives the HTTP client's counts."""
    if files:
        yield from file_payloads(files, entry.patterns)
        return
    template = url or source.url
    if entry.fetch is Fetch.DAY_FILE:
        if template:
            yield from _daily_urls(source, template, days, faults)
        else:
            yield from _day_files(loaded, source, entry, days)
        return
    if entry.fetch is Fetch.DROP_FOLDER or not template:
        folder = loaded.resolve(source.folder)
        if folder is None:
            raise UsageError(
                f"source '{source.name}' has no url or folder: give files with --file PATH"
            )
        yield from file_payloads([folder], entry.patterns)
        return
    if entry.fetch is Fetch.SNAPSHOT:
        assert entry.fetcher is not None
        fetcher = resolve(entry.fetcher)
        with _client(source) as client:
            yield Payload(template, lambda: fetcher(client, template))
            faults(client.fetch_stats.as_dict())
        return
    yield from _pages(source, entry, template, pager, faults)


def file_payloads(files: Sequence[str | Path], patterns: Sequence[str]) -> Iterator[Payload]:
    """Local files (and the matching files of folders), each read only if it is regular."""
    for p in local.local_files(files, patterns):
        yield Payload(p.name, lambda p=p: local.read_regular(p), local.modified_at(p))  # type: ignore[misc]


def _client(source: Source) -> HttpClient:
    from envwatch.http import HttpClient, policy_from_config

    return HttpClient(policy_from_config(source.http), secrets=source_secrets(source))


def _daily_urls(
    source: Source, template: str, days: list[date], faults: Callable[[dict[str, Any]], None]
) -> Iterator[Payload]:
    with _client(source) as client:
        faults(client.fetch_stats.as_dict())
        for day in days:
            # Secrets stay {NAME} placeholders here; the client fills them in and redacts.
            target = fill_date(template, day)
            yield Payload(target, lambda target=target: client.get(target))  # type: ignore[misc]
            faults(client.fetch_stats.as_dict())


def _day_files(
    loaded: LoadedConfig, source: Source, entry: SourceKind, days: list[date]
) -> Iterator[Payload]:
    folder = loaded.resolve(source.folder)
    assert folder is not None and entry.day_file is not None
    file_name = resolve(entry.day_file)
    for day in days:
        p = folder / file_name(day)
        yield Payload(p.name, lambda p=p: local.read_regular(p))  # type: ignore[misc]


def _pages(
    source: Source,
    entry: SourceKind,
    url: str,
    pager: Pager,
    faults: Callable[[dict[str, Any]], None],
) -> Iterator[Payload]:
    """Every page of a paged feed: page 1 tells how many there are."""
    assert entry.form is not None
    form_fields = resolve(entry.form)
    area = source.area_id or "330000"
    size = source.page_size or 100
    with _client(source) as client:
        page = 1
        while True:
            form = form_fields(area, page, size)
            yield Payload(
                f"{url} AreaID={area} page {page}",
                lambda form=form: client.post(url, data=form),  # type: ignore[misc]
            )
            faults(client.fetch_stats.as_dict())
            if pager.total is None or page >= pager.total:
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


def station_list(loaded: LoadedConfig, source: Source, entry: SourceKind) -> pd.DataFrame | None:
    """The configured station list (site_id, name, city, lon, lat), for --all-sites."""
    p = loaded.resolve(source.station_list)
    if p is None or entry.station_list is None:
        return None
    try:
        data = p.read_bytes()  # named by the operator in the config, like the folders
    except OSError as e:
        raise UsageError(
            f"{p}: cannot read the station list ({e}); fix station_list in the config"
        ) from None
    return resolve(entry.station_list)(data, name=str(p))  # type: ignore[no-any-return]
