"""Leaflet and jQuery for the report, read from their PyPI packages at build time.

The files come from ``xstatic-leaflet`` (Leaflet 1.9.3, the version folium 0.20 is written
for) and ``xstatic-jquery`` (folium's popups call ``$()``). Nothing of them is kept in the
repository: the page carries them as ``data:`` URIs, and the images Leaflet's CSS refers to
become ``data:`` URIs too, so the page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_SOURCE_MAP = re.compile(rb"^\s*//# sourceMappingURL=.*$", re.MULTILINE)
_CSS_URL = re.compile(r"url\((images/[A-Za-z0-9_.-]+\.png)\)")


def data_uri(content: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` for `content`."""
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def _leaflet_dir() -> Path:
    import xstatic.pkg.leaflet as leaflet

    return Path(leaflet.BASE_DIR)


def _jquery_dir() -> Path:
    import xstatic.pkg.jquery as jquery

    return Path(jquery.BASE_DIR)


@dataclass(frozen=True)
class Assets:
    """The scripts and style sheet the map needs, each a ``data:`` URI."""

    scripts: tuple[str, ...]
    styles: tuple[str, ...]


def _script(path: Path) -> str:
    # The source-map comment would make developer tools look for a file that is not there.
    return data_uri(_SOURCE_MAP.sub(b"", path.read_bytes()), "text/javascript")


def _leaflet_css() -> str:
    folder = _leaflet_dir()
    css = (folder / "leaflet.css").read_text(encoding="utf-8")

    def inline(m: re.Match[str]) -> str:
        return f"url({data_uri((folder / m.group(1)).read_bytes(), 'image/png')})"

    return data_uri(_CSS_URL.sub(inline, css).encode("utf-8"), "text/css")


@lru_cache(maxsize=1)
def map_assets() -> Assets:
    """Leaflet's script and style sheet and jQuery, inlined (read once per process)."""
    return Assets(
        scripts=(_script(_leaflet_dir() / "leaflet.js"), _script(_jquery_dir() / "jquery.min.js")),
        styles=(_leaflet_css(),),
    )
