"""Every source kind envwatch can ingest, declared in one place.

An entry says, for one kind: the file patterns of a folder of its payloads, how it fetches
(`Fetch`), whether it is windowed (one file a day, fetched day by day from the ledger's
window), its reader, the averaging it stores its values under, whether it is a staff sheet
(read from `--file` or the source's `folder:`), the kind of the sites it adds to the
registry, and the register table its records go to (zones, cells).

The pipeline asks this module and names no kind. Adding a kind is: an entry here, its reader
under `envwatch/sources/`, its tests and its docs.

Readers are named as ``"module:function"`` and imported only when a payload is read, so that
importing this module (and the configuration, which takes its kinds from here) stays light.
A reader is called with the keyword arguments it declares, out of `READER_ARGUMENTS`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from envwatch.sources.base import Reading


class Fetch(Enum):
    """How a kind gets its payloads when no `--file` is given."""

    DAY_FILE = "day-file"  # one file a day: a URL template per day, or the day's file in `folder:`
    SNAPSHOT = "snapshot"  # one GET of the configured URL per run, or the files of `folder:`
    PAGED_POST = "paged-post"  # a form POSTed page by page, or the files of `folder:`
    DROP_FOLDER = "drop-folder"  # staff sheets: the files of `folder:` (or `--file`)


# What a reader may ask for, by the name of its keyword argument:
#   name        the payload's name (file name or URL), for messages
#   tz          the configuration's time zone (IANA name)
#   now         the time of the run (aware, UTC): values dated after now + 1 h are rejected
#   fetched_at  when the payload was fetched (aware, UTC)
#   known_sites the registry's sites of the entry's `site_kind` (DataFrame)
#   add_sites   True when staff asked to add unknown sites (--add-sites)
#   indicators  the configured zero-waste indicators (id, name, unit, aliases)
#   cell_types  the configured zero-waste cell types (type, aliases)
#   district    the configured region's district
READER_ARGUMENTS = (
    "name",
    "tz",
    "now",
    "fetched_at",
    "known_sites",
    "add_sites",
    "indicators",
    "cell_types",
    "district",
)


@dataclass(frozen=True)
class Register:
    """Where a register-like sheet's records are kept: table, key column, reader's columns."""

    table: str
    key: str
    columns: str  # "module:NAME" of the reader's list of record columns


@dataclass(frozen=True)
class SourceKind:
    """One kind of source: see the module docstring."""

    kind: str
    patterns: tuple[str, ...]
    fetch: Fetch
    reader: str  # "module:function" returning a Reading
    site_kind: str | None = None  # kind of the sites its payloads add (air, water, outfall)
    averaging: str | None = None  # stored averaging when the reader leaves it to the pipeline
    windowed: bool = False
    staff_sheet: bool = False
    register: Register | None = None
    area_site: bool = False  # its values are kept under the configured district
    day_file: str | None = None  # "module:function" day -> file name (windowed kinds)
    station_list: str | None = None  # "module:function" reading `station_list:` (--all-sites)
    fetcher: str | None = None  # "module:function" (client, url) -> bytes (snapshot kinds)
    form: str | None = None  # "module:function" (area, page, size) -> form (paged kinds)
    new_sites: Callable[[pd.DataFrame], pd.DataFrame] | None = None  # completes feed sites

    def read(self, data: bytes, **available: Any) -> Reading:
        """Read one payload, passing the reader the arguments it declares."""
        fn = resolve(self.reader)
        wanted = _parameters(fn)
        return fn(data, **{k: v for k, v in available.items() if k in wanted})  # type: ignore[no-any-return]

    def wants(self, argument: str) -> bool:
        """Whether the reader declares `argument` (so the pipeline computes it only then)."""
        return argument in _parameters(resolve(self.reader))


_PARAMETERS: dict[Callable[..., Any], frozenset[str]] = {}


def _parameters(fn: Callable[..., Any]) -> frozenset[str]:
    if fn not in _PARAMETERS:
        params = inspect.signature(fn).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        _PARAMETERS[fn] = frozenset(READER_ARGUMENTS if takes_any else params)
    return _PARAMETERS[fn]


def resolve(ref: str) -> Any:
    """The object named by ``"package.module:name"``, importing the module now."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def read_water_page(data: bytes, *, name: str, fetched_at: Any) -> Reading:
    """The national water feed, one page; the reading says how many pages the feed has."""
    from envwatch.sources import cnemc_water

    reading, info = cnemc_water.read_page(data, fetched_at=fetched_at, name=name)
    reading.pages = info.total_pages
    return reading


def guess_water_type(new: pd.DataFrame) -> pd.DataFrame:
    """Sections of the national feed say neither lake nor river: guess from the name, say so."""
    import numpy as np

    names = new["name"].fillna("") if "name" in new else new["site_id"].astype(str)
    lake = names.str.contains("湖|水库") & ~names.str.contains("出口|坝下")
    new = new.copy()
    new["water_type"] = np.where(lake, "lake", "river")
    new["water_type_guessed"] = True
    return new


_SHEET = ("*.csv", "*.xlsx")

KINDS: dict[str, SourceKind] = {
    k.kind: k
    for k in (
        SourceKind(
            "cnemc-air-archive",
            ("china_sites_*.csv",),
            Fetch.DAY_FILE,
            "envwatch.sources.cnemc_air_archive:read",
            site_kind="air",
            windowed=True,
            day_file="envwatch.sources.cnemc_air_archive:file_name",
            station_list="envwatch.sources.cnemc_air_archive:read_station_list",
        ),
        SourceKind(
            "cnemc-air-live",
            ("*.json",),
            Fetch.SNAPSHOT,
            "envwatch.sources.cnemc_air_live:read",
            site_kind="air",
            fetcher="envwatch.sources.cnemc_air_live:fetch",
        ),
        SourceKind(
            "cnemc-water",
            ("*.json",),
            Fetch.PAGED_POST,
            "envwatch.sources.registry:read_water_page",
            site_kind="water",
            averaging="auto",
            form="envwatch.sources.cnemc_water:form_fields",
            new_sites=guess_water_type,
        ),
        SourceKind(
            "lab-sheet",
            _SHEET,
            Fetch.DROP_FOLDER,
            "envwatch.sources.lab_sheet:read",
            site_kind="water",
            averaging="lab",
            staff_sheet=True,
        ),
        SourceKind(
            "outfall-sheet",
            _SHEET,
            Fetch.DROP_FOLDER,
            "envwatch.sources.outfall_sheet:read",
            site_kind="outfall",
            staff_sheet=True,
        ),
        SourceKind(
            "air-sheet",
            _SHEET,
            Fetch.DROP_FOLDER,
            "envwatch.sources.air_sheet:read",
            site_kind="air",
            staff_sheet=True,
        ),
        SourceKind(
            "zone-sheet",
            (*_SHEET, "*.geojson", "*.json"),
            Fetch.DROP_FOLDER,
            "envwatch.sources.zone_sheet:read",
            staff_sheet=True,
            register=Register("zones", "zone_id", "envwatch.sources.zone_sheet:RECORD_COLUMNS"),
        ),
        SourceKind(
            "indicator-sheet",
            _SHEET,
            Fetch.DROP_FOLDER,
            "envwatch.sources.indicator_sheet:read",
            staff_sheet=True,
            area_site=True,
        ),
        SourceKind(
            "cells-sheet",
            _SHEET,
            Fetch.DROP_FOLDER,
            "envwatch.sources.cells_sheet:read",
            staff_sheet=True,
            register=Register("cells", "cell_id", "envwatch.sources.cells_sheet:RECORD_COLUMNS"),
        ),
    )
}


def register(kind: SourceKind) -> None:
    """Add (or replace) a kind; for plug-ins and tests. The configuration accepts it from now."""
    KINDS[kind.kind] = kind


def get(kind: str) -> SourceKind | None:
    """The entry of `kind`, or None when this version of envwatch cannot ingest it."""
    return KINDS.get(kind)


def windowed() -> tuple[str, ...]:
    """The kinds fetched day by day from the ledger's window."""
    return tuple(k for k, v in KINDS.items() if v.windowed)
