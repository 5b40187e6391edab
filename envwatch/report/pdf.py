"""The printable report: the HTML page printed to an A4 PDF by headless Chromium.

Chromium (Debian's package, ``/usr/bin/chromium``) prints the page with its print style sheet
(A4, 15 mm margins, no map controls, a page break before each section). Without Chromium,
`write_pdf` raises `BrowserMissing`; the HTML is written before and stays.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from envwatch.errors import EnvwatchError

CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser")
TIMEOUT_S = 90.0
"""How long Chromium may take to print a report (a month's page prints in about 3 s)."""


class BrowserMissing(EnvwatchError):
    """No Chromium to print the PDF with."""


class PrintFailed(EnvwatchError):
    """Chromium ran but wrote no PDF (crashed or timed out)."""


def find_chromium() -> str | None:
    """The Chromium to print with: ``ENVWATCH_CHROMIUM``, Debian's, or one on PATH."""
    chosen = os.environ.get("ENVWATCH_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).exists() else None
    for path in CANDIDATES:
        if Path(path).exists():
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser")


def pdf_path(html: Path) -> Path:
    """The PDF beside a report page: ``envwatch-2026-11.html`` → ``envwatch-2026-11.pdf``."""
    return html.with_suffix(".pdf")


def write_pdf(html: Path, *, chromium: str | None = None, timeout: float = TIMEOUT_S) -> Path:
    """Print the report page `html` to the PDF beside it (A4) and return the PDF's path.

    Raises `BrowserMissing` without Chromium and `PrintFailed` when Chromium writes nothing
    within `timeout` seconds. The PDF is written to a temporary name and renamed, so a failed
    print never leaves half a file.
    """
    browser = chromium or find_chromium()
    if browser is None:
        raise BrowserMissing(
            f"no Chromium to print {html.name} to PDF: install Debian's chromium "
            "(apt-get install chromium, or `make browser`) or set ENVWATCH_CHROMIUM; "
            f"the HTML report is at {html}"
        )
    target = pdf_path(html)
    tmp = target.with_suffix(".pdf.tmp")
    with tempfile.TemporaryDirectory(prefix="envwatch-chromium-") as profile:
        command = [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=5000",
            f"--print-to-pdf={tmp}",
            "--no-pdf-header-footer",
            html.resolve().as_uri() + "#print",  # the map laid out at its printed size
        ]
        try:
            subprocess.run(
                command, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            raise PrintFailed(
                f"Chromium did not print {html.name} within {timeout:.0f} s; the HTML report "
                f"is at {html}"
            ) from None
    if not tmp.exists() or tmp.stat().st_size == 0 or tmp.read_bytes()[:5] != b"%PDF-":
        tmp.unlink(missing_ok=True)
        raise PrintFailed(
            f"Chromium ({browser}) wrote no PDF for {html.name}; the HTML report is at {html}"
        )
    tmp.replace(target)
    return target
