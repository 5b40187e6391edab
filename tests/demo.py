"""The demo store of the query, serve, API, export and staff-guide tests, built once per session
(the `demo_store` fixture of conftest.py).

It holds the bundled samples, as the issue describes the demo store: two days of the national
hourly air archive (Ningbo's registry stations), one page of the national surface-water feed and
the example lab sheet. Tests never write to it: `demo_copy` gives a test its own copy with a
configuration pointing at it.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT, SAMPLES, SLIM_DAY1, SLIM_DAY2, write_config

WATER_PAGE = SAMPLES / "water" / "cnemc_realtime_snapshot_20260821_p1.json"
LAB_SHEET = ROOT / "data" / "examples" / "lab-sheet-example.csv"


@dataclass(frozen=True)
class Demo:
    """A configuration and its store."""

    config: Path
    db: Path

    @property
    def folder(self) -> Path:
        return self.config.parent


def ingest_demo(config: Path, db: Path) -> None:
    """Ingest the bundled samples into the store `db` of `config`."""
    from envwatch.config import load_config
    from envwatch.pipeline import ingest

    loaded = load_config(config)
    for source, files in (
        ("cnemc-air-archive", [SLIM_DAY1, SLIM_DAY2]),
        ("cnemc-water", [WATER_PAGE]),
        ("lab-sheet", [LAB_SHEET]),
    ):
        result = ingest(loaded, source, db=db, files=files)
        assert result.exit_code == 0, result.summary()


def build_demo(folder: Path) -> Demo:
    """The demo store in `folder` (the `demo_store` session fixture of conftest.py)."""
    config = write_config(folder)
    db = folder / "envwatch.db"
    ingest_demo(config, db)
    with sqlite3.connect(db) as conn:  # everything in the main file: copies are complete
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Demo(config, db)


def demo_copy(demo: Demo, folder: Path) -> Demo:
    """A private copy of the demo store `demo` in `folder`, with a configuration pointing at it."""
    folder.mkdir(parents=True, exist_ok=True)
    config = write_config(folder)
    shutil.copy(demo.db, folder / "envwatch.db")
    return Demo(config, folder / "envwatch.db")
