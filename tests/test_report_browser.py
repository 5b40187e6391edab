"""The weekly report in a real browser: Debian's Chromium, headless, opening the file offline.

Checks what a reader would notice: no network request at all, no console error, the map and
the scorecard on screen, popups that show hostile names as text and run nothing. Saves a
screenshot under maps/ for people to look at. `make test` installs Chromium (Debian's package:
a browser download by a test tool does not work here) and requires these tests to run. They
are `slow` (a real browser, about 15 s in all): a bare `pytest` leaves them to `make test`, and
`pytest -m slow` without Chromium skips them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report import HOSTILE, WEEK, ZERO_LAYERS

from envwatch.config import load_config
from envwatch.report import write_report

from conftest import ROOT

pytestmark = pytest.mark.slow

if os.environ.get("ENVWATCH_REQUIRE_BROWSER"):  # `make test`: a missing driver is a failure
    import playwright.sync_api as playwright_api
else:
    playwright_api = pytest.importorskip("playwright.sync_api")

CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
SCREENSHOT = ROOT / "maps" / f"envwatch-{WEEK}-chromium.png"

# Records any dialog or script injection before the page's own scripts run.
TRAPS = """
window.__fired = [];
for (const name of ['alert', 'confirm', 'prompt', 'print']) {
  window[name] = (...args) => { window.__fired.push(name + ':' + args.join(',')); };
}
"""


def _chromium() -> str | None:
    for path in CANDIDATES:
        if Path(path).exists():
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = _chromium()
    if path is None:
        why = "Chromium not found: run `make browser` (Debian's chromium) or `make test`"
        if os.environ.get("ENVWATCH_REQUIRE_BROWSER"):  # set by `make test`: never skip there
            pytest.fail(why)
        pytest.skip(why)
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            yield b
        finally:
            b.close()


class Visit:
    """A page opened from file:// with everything it does recorded."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.add_init_script(TRAPS)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.goto(self.url, wait_until="load")
        # on failure the tests say what is missing (and the console errors say why)
        with contextlib.suppress(playwright_api.TimeoutError):
            self.page.wait_for_selector(".leaflet-overlay-pane path", timeout=10_000)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def outside_requests(self) -> list[str]:
        return [u for u in self.requests if u != self.url and not u.startswith("data:")]

    def open_every_popup(self) -> list[str]:
        """Open the popup and tooltip of every marker; returns the popups' visible text."""
        return list(
            self.page.evaluate(
                """() => {
                  const texts = [];
                  for (const v of Object.values(window)) {
                    const shape = v instanceof L.CircleMarker || v instanceof L.Marker
                      || v instanceof L.GeoJSON;  // a zone's outline carries its popup
                    if (shape && v.getPopup()) {
                      v.openTooltip && v.getTooltip() && v.openTooltip();
                      v.openPopup();
                      const el = v.getPopup() && v.getPopup().getElement();
                      if (el) texts.push(el.innerText);
                      v.closePopup();
                    }
                  }
                  return texts;
                }"""
            )
        )


@pytest.fixture(scope="module")
def hostile_report(report_stores: dict[str, Path]) -> Path:
    config = report_stores["hostile"]
    loaded = load_config(config)
    return write_report(loaded, loaded.store_path, WEEK, config.parent / "maps")


def test_report_opens_offline_with_map_and_scorecard(browser: Any, hostile_report: Path) -> None:
    visit = Visit(browser, hostile_report)
    page = visit.page
    assert visit.outside_requests() == []
    assert visit.errors == []
    # the map: ten district outlines and seven zone outlines, ten stations, seven sections
    # (squares: two of the test sheet, four of the example sheet, the hostile one), nine
    # outfalls (triangles), fourteen cells (badges) and the hostile zone without an outline
    assert page.locator(".leaflet-container").count() == 1
    assert page.locator(".leaflet-overlay-pane path").count() == 10 + 7
    assert page.locator(".leaflet-points-pane path").count() == 10
    assert page.locator(".section-marker").count() == 7
    assert page.locator(".leaflet-outfalls-pane .outfall-icon").count() == 9
    assert page.locator(".outfall-marker.violation").count() == 3
    assert page.locator(".leaflet-cells-pane .cell-icon").count() == 14
    assert page.locator(".zone-icon .zone-point").count() == 1
    assert page.locator(".district-label.region").inner_text().startswith("镇海区")
    control = page.locator(".leaflet-control-layers")
    assert control.is_visible()
    for name in ZERO_LAYERS:
        assert name in control.inner_text()
    assert page.locator("#legend").is_visible()
    # switching a layer off takes its symbols off the map
    control.get_by_text(ZERO_LAYERS[1]).click()
    assert page.locator(".outfall-icon").count() == 0
    control.get_by_text(ZERO_LAYERS[1]).click()
    assert page.locator(".outfall-icon").count() == 9
    # the map opens on the district; 全市 zooms out to the city
    zoom = "() => Object.values(window).find(v => v instanceof L.Map).getZoom()"
    district_zoom = page.evaluate(zoom)
    page.locator(".zoom-buttons a", has_text="全市").click()
    page.wait_for_timeout(400)
    assert page.evaluate(zoom) < district_zoom
    # the scorecard: one row per target, the good-day ratio met
    rows = page.locator("#scorecard tbody tr")
    assert rows.count() == 10
    good = page.locator('#scorecard tr[data-target="air.good_day_ratio"]').inner_text()
    assert "100%" in good and "✓" in good
    assert page.locator(".tile").first.is_visible()
    # Chinese text is laid out (a fallback box font would give zero-width or tofu glyphs)
    width = page.evaluate("() => document.querySelector('h1').getBoundingClientRect().width")
    assert width > 150
    page.close()


def test_hostile_names_show_as_text_and_nothing_runs(browser: Any, hostile_report: Path) -> None:
    visit = Visit(browser, hostile_report)
    page = visit.page
    texts = visit.open_every_popup()
    page.hover(".leaflet-overlay-pane path.leaflet-interactive >> nth=0", force=True)
    page.wait_for_timeout(300)
    # the popups of the station, the section, the outfall, the zone and the cell
    assert sum(HOSTILE in t for t in texts) == 5
    outfall = next(t for t in texts if "EVIL-01" in t)
    assert f"{HOSTILE}（EVIL-01）" in outfall and f"所属零直排区：{HOSTILE}" in outfall
    assert f"受纳水体：{HOSTILE}" in outfall and "晴天排水" in outfall
    assert any(t.startswith(HOSTILE) and "类型：无废工厂" in t for t in texts)
    assert any(t.startswith(HOSTILE) and "逾期未验收" in t for t in texts)
    tooltips = page.locator(".leaflet-tooltip").all_inner_texts()
    assert any(HOSTILE in t for t in tooltips)
    assert HOSTILE in page.locator("#water-sections").inner_text()
    for table in ("#outfall-violations", "#zone-counts", "#zones"):
        assert HOSTILE in page.locator(table).inner_text(), table
    assert HOSTILE in (page.locator("#cells").text_content() or "")
    assert page.evaluate("() => window.__fired") == []
    assert visit.dialogs == []
    assert page.locator('img[src="x"]').count() == 0
    assert visit.outside_requests() == []
    assert visit.errors == []
    page.close()


def test_screenshot_for_people(browser: Any, report_stores: dict[str, Path]) -> None:
    # the store `make demo` builds: the air samples and the example sheets
    config = report_stores["demo"]
    loaded = load_config(config)
    path = write_report(loaded, loaded.store_path, WEEK, config.parent / "maps")
    visit = Visit(browser, path)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    visit.page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 50_000
    assert visit.outside_requests() == [] and visit.errors == []
    visit.page.close()


# -- 月报 and 年报 (issue 17) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def period_pages(hostile_month_store: Path) -> dict[str, Path]:
    """The month and year pages of the shifted real month, 万里学院 named with HTML and JS."""
    from test_report_periods import MONTH, NOW

    config = hostile_month_store
    loaded = load_config(config)
    out = config.parent / "maps"
    return {
        "month": write_report(loaded, loaded.store_path, MONTH, out, kind="month", now=NOW),
        "year": write_report(loaded, loaded.store_path, "2026", out, kind="year", now=NOW),
    }


@pytest.mark.parametrize("kind", ["month", "year"])
def test_period_page_offline_and_hostile_names_inert(
    browser: Any, period_pages: dict[str, Path], kind: str
) -> None:
    visit = Visit(browser, period_pages[kind])
    page = visit.page
    assert visit.outside_requests() == []
    assert visit.errors == []
    title = {"month": "2026年11月", "year": "2026年"}[kind]
    assert page.locator("#period").inner_text().startswith(title)
    assert (
        page.locator("h1").inner_text()
        == f"镇海区生态环境质量{'月报' if kind == 'month' else '年报'}"
    )
    # the calendar (month) or the 12-month strip (year) is drawn, the outlook and ranking shown
    if kind == "month":
        assert page.locator("svg.calendar g.day").count() == 30
    else:
        assert page.locator("svg.strip").count() == 1
    assert page.locator("#outlook li").count() >= 2
    assert "镇海区" in page.locator("#district-ranking tr.region").inner_text()
    texts = visit.open_every_popup()
    assert any(HOSTILE in t for t in texts)  # the station's popup shows the name as text
    assert page.evaluate("() => window.__fired") == []
    assert visit.dialogs == []
    assert page.locator('img[src="x"]').count() == 0
    assert visit.outside_requests() == [] and visit.errors == []
    shot = ROOT / "maps" / f"{period_pages[kind].stem}-chromium.png"
    shot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    page.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["month", "year"])
def test_period_page_prints_to_a4(browser: Any, period_pages: dict[str, Path], kind: str) -> None:
    from pypdf import PdfReader

    from envwatch.report import write_pdf

    pdf = write_pdf(period_pages[kind], chromium=_chromium())
    assert pdf.name == period_pages[kind].with_suffix(".pdf").name
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size < 5_000_000
    pages = PdfReader(str(pdf)).pages
    # the first page (header, figures, key points, outlook), the charts, the scorecard, the
    # map, the rest: each section starts a page
    assert 5 <= len(pages) <= 12
    assert all(abs(float(p.mediabox.width) - 595.3) < 2 for p in pages)  # A4 portrait
    # the map prints as it stands, its controls left out
    printed = browser.new_page(viewport={"width": 800, "height": 1000})
    printed.goto(period_pages[kind].resolve().as_uri() + "#print")
    printed.emulate_media(media="print")
    assert printed.locator(".leaflet-control-layers").is_hidden()
    assert printed.locator(".leaflet-overlay-pane path").count() >= 10
    assert printed.evaluate("() => document.documentElement.scrollWidth") <= 800
    printed.close()
