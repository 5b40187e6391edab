"""The weekly HTML report: one self-contained page in Simplified Chinese that opens offline.

`write_report(loaded, store_path, week, out)` writes ``out/envwatch-YYYY-Www.html`` for an ISO
week (default: the last complete week in the config's time zone). The page carries Leaflet and
jQuery inlined from their PyPI packages (`assets`), a folium map with no tiles (`maps`), static
SVG charts (`charts`) and the scorecard; nothing is loaded from the network. Every string is
escaped for HTML and for JavaScript template literals (`escape`).

Modules: `data` (what is shown, from the store and the scorecard), `maps`, `charts`, `page`
(the template's context), `assets`, `escape`.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from envwatch.config import LoadedConfig
from envwatch.report.data import ReportData, gather, scorecard
from envwatch.report.maps import TIANDITU_KEY_VARIABLE, build_map
from envwatch.report.page import render
from envwatch.scoring import last_complete_week

__all__ = [
    "TIANDITU_KEY_VARIABLE",
    "ReportData",
    "default_week",
    "gather",
    "render_report",
    "report_path",
    "scorecard",
    "write_report",
]


def default_week(loaded: LoadedConfig, now: datetime | None = None) -> str:
    """The last complete ISO week in the config's time zone (e.g. ``2026-W47``)."""
    now = now or datetime.now(loaded.tz)
    return last_complete_week(now.astimezone(loaded.tz).date())


def report_path(out: Path, week: str) -> Path:
    """Where the report of `week` goes: ``out/envwatch-YYYY-Www.html``."""
    return Path(out) / f"envwatch-{week}.html"


def render_report(
    loaded: LoadedConfig,
    store_path: str | Path,
    week: str,
    *,
    today: date | None = None,
    now: datetime | None = None,
    tianditu_key: str | None = None,
) -> str:
    """The report page of ISO week `week` as an HTML string (see `write_report`)."""
    from envwatch.errors import StoreError
    from envwatch.store import SCHEMA_VERSION, Store

    path = Path(store_path)
    offset = datetime(2026, 1, 1, tzinfo=loaded.tz).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    store = Store.readonly(path, utc_offset_minutes=minutes)
    if store.schema_version < SCHEMA_VERSION:
        version = store.schema_version
        store.close()
        raise StoreError(
            f"{path}: the store's schema ({version}) is older than this envwatch "
            f"({SCHEMA_VERSION}); run `envwatch init` once to bring it up to date"
        )
    try:
        data = gather(loaded, store, path, week, today=today, now=now)
    finally:
        store.close()
    return render(data, build_map(data, tianditu_key=tianditu_key))


def write_report(
    loaded: LoadedConfig,
    store_path: str | Path,
    week: str | None,
    out: str | Path,
    *,
    today: date | None = None,
    now: datetime | None = None,
    tianditu_key: str | None = None,
) -> Path:
    """Write the weekly report of ISO week `week` (None: the last complete week) under `out`.

    The store is opened read-only. Raises `UsageError` for a malformed week or a week without
    any data in the store. `tianditu_key` (default: the environment variable
    ``ENVWATCH_TIANDITU_KEY``) adds a Tianditu street layer, off until switched on. Returns the
    path of the page written.
    """
    from envwatch.report.data import week_period

    now = now or datetime.now(loaded.tz)
    today = today or now.astimezone(loaded.tz).date()
    label = week_period(week, today).label if week else default_week(loaded, now)
    html = render_report(loaded, store_path, label, today=today, now=now, tianditu_key=tianditu_key)
    target = report_path(Path(out), label)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(target)
    return target
