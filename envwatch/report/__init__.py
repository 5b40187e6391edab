"""The HTML report of a week, a month (月报) or a year (年报): one self-contained page in
Simplified Chinese that opens offline, and prints to A4 (`write_pdf`).

`write_report(loaded, store_path, label, out, kind=...)` writes ``out/envwatch-2026-W47.html``,
``out/envwatch-2026-11.html`` or ``out/envwatch-2026.html`` (default: the last complete week,
month or year in the config's time zone). The page carries Leaflet and
jQuery inlined from their PyPI packages (`assets`), a folium map with no tiles (`maps`), static
SVG charts (`charts`) and the scorecard; nothing is loaded from the network. Every string is
escaped for HTML and for JavaScript template literals (`escape`).

Modules: `data` (what is shown, from the store and the scorecard), `maps`, `charts`, `page`
(the template's context), `assets`, `escape`, `pdf` (printing through headless Chromium).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from envwatch.config import LoadedConfig
from envwatch.report.data import ReportData, gather, last_complete, report_period, scorecard
from envwatch.report.maps import TIANDITU_KEY_VARIABLE, build_map
from envwatch.report.page import render
from envwatch.report.pdf import BrowserMissing, PrintFailed, write_pdf
from envwatch.scoring import Period, last_complete_week

__all__ = [
    "TIANDITU_KEY_VARIABLE",
    "BrowserMissing",
    "PrintFailed",
    "write_pdf",
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


def report_path(out: Path, label: str) -> Path:
    """Where the report of a period goes: ``out/envwatch-2026-W47.html``,
    ``out/envwatch-2026-11.html``, ``out/envwatch-2026.html``."""
    return Path(out) / f"envwatch-{label}.html"


def render_report(
    loaded: LoadedConfig,
    store_path: str | Path,
    period: str | Period,
    *,
    today: date | None = None,
    now: datetime | None = None,
    tianditu_key: str | None = None,
) -> str:
    """The report page of `period` as an HTML string (see `write_report`); a string is an
    ISO week, a `Period` may be a week, a month or a year."""
    from envwatch.errors import StoreError
    from envwatch.migrations import SCHEMA_VERSION
    from envwatch.store import Store

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
        data = gather(loaded, store, path, period, today=today, now=now)
    finally:
        store.close()
    return render(data, build_map(data, tianditu_key=tianditu_key))


def write_report(
    loaded: LoadedConfig,
    store_path: str | Path,
    period: str | None,
    out: str | Path,
    *,
    kind: str = "week",
    today: date | None = None,
    now: datetime | None = None,
    tianditu_key: str | None = None,
) -> Path:
    """Write the report of `period` under `out` and return the page's path.

    `kind` is week (`period` an ISO week, ``2026-W47``), month (``2026-11``) or year
    (``2026``); `period` None is the last complete week, month or year in the config's time
    zone. The current month or year ends today (a partial period, said on the page). The
    store is opened read-only. Raises `UsageError` for a malformed period or one without any
    data in the store. `tianditu_key` (default: the environment variable
    ``ENVWATCH_TIANDITU_KEY``) adds a Tianditu street layer, off until switched on.
    """
    now = now or datetime.now(loaded.tz)
    today = today or now.astimezone(loaded.tz).date()
    label = period if period is not None else last_complete(kind, today)
    resolved = report_period(kind, label, today)
    html = render_report(
        loaded, store_path, resolved, today=today, now=now, tianditu_key=tianditu_key
    )
    target = report_path(Path(out), resolved.label)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(target)
    return target
