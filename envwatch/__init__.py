"""envwatch: air and surface-water monitoring data in a local SQLite store, for staff and analysts.

From Python, open a store read-only and get pandas DataFrames::

    import envwatch
    ew = envwatch.open("envwatch.db")
    ew.air_daily(["1236A"], "2026-11-01", "2026-11-21")

`envwatch.api` documents the methods, the time conventions and the units. Importing
``envwatch`` itself is cheap: pandas and the store are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from envwatch.api import StoreReader

__all__ = ["StoreReader", "open"]


def open(path: str | Path, tz: str = "Asia/Shanghai") -> StoreReader:  # noqa: A001
    """Open the store at `path` read-only; returns a `StoreReader` whose methods
    (``air_hourly``, ``air_daily``, ``water_samples``, ``water_periods``, ``scorecard``,
    ``runs``, ``sites``, ``observations``, ``revisions``, ``query``, ``canned``) return
    DataFrames. `tz` is the local time zone of ``time_local`` columns and of date ranges."""
    from envwatch.api import open_store

    return open_store(path, tz)


def __getattr__(name: str) -> object:
    if name == "StoreReader":
        from envwatch.api import StoreReader

        return StoreReader
    raise AttributeError(f"module 'envwatch' has no attribute {name!r}")
