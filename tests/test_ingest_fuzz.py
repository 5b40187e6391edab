"""Seeded fuzzing of every source kind through the real ingest (issue 15, done-when).

For each kind of the registry, a real payload is damaged (random bytes, truncations, other
encodings, bytes flipped) and ingested after a good one. Whatever the damage: no exception
escapes, the run's exit status is 0, 1 or 2, the store passes SQLite's integrity check, and a
payload that failed changed no row of the observations.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from envwatch.config import load_config
from envwatch.pipeline import ingest
from envwatch.sources import registry

from conftest import ROOT, SLIM_DAY1, write_config

EXAMPLES = ROOT / "data" / "examples"
SAMPLES = {
    "cnemc-air-archive": SLIM_DAY1,
    "cnemc-air-live": ROOT / "tests" / "data" / "cnemc_air_live_sample.json",
    "cnemc-water": ROOT / "data" / "samples" / "water" / "cnemc_realtime_snapshot_20260821_p1.json",
    "lab-sheet": EXAMPLES / "lab-sheet-example.xlsx",
    "outfall-sheet": EXAMPLES / "outfall-sheet-example.csv",
    "air-sheet": EXAMPLES / "air-sheet-example.csv",
    "zone-sheet": EXAMPLES / "zone-sheet-example.geojson",
    "indicator-sheet": EXAMPLES / "indicator-sheet-example.csv",
    "cells-sheet": EXAMPLES / "cells-sheet-example.csv",
}


def damaged(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    """Ways a payload arrives broken: each (what, bytes)."""
    cut = rng.randrange(1, max(2, len(data)))
    flipped = bytearray(data)
    for _ in range(max(1, len(data) // 200)):
        flipped[rng.randrange(len(data))] = rng.randrange(256)
    text = data.decode("utf-8", errors="replace")
    return [
        ("random bytes", rng.randbytes(rng.randrange(1, 4096))),
        ("truncated", data[:cut]),
        ("bytes flipped", bytes(flipped)),
        ("utf-16", text.encode("utf-16")),
        ("empty", b""),
        ("nested", b"[" * 100_000 + b"]" * 100_000),
        ("nul bytes", data[:cut] + b"\x00" * 64 + data[cut:]),
    ]


def _file_name(kind: str, sample: Path, i: int) -> str:
    if registry.KINDS[kind].windowed:  # a day's file: its name carries the day
        return f"china_sites_201901{10 + i:02d}.csv"
    return f"fuzz-{i}{sample.suffix}"


def _observations(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as c:
        return c.execute("select * from observations order by 1, 2, 3, 4").fetchall()


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_damaged_payloads_never_crash_and_never_corrupt(tmp_path: Path, kind: str) -> None:
    assert kind in registry.KINDS
    loaded = load_config(write_config(tmp_path))
    db = tmp_path / "envwatch.db"
    sample = SAMPLES[kind]
    flags = {"all_sites": True} if not registry.KINDS[kind].staff_sheet else {"add_sites": True}
    ingest(loaded, kind, files=[sample], **flags)
    rng = random.Random(f"envwatch-{kind}")
    for i, (what, data) in enumerate(damaged(sample.read_bytes(), rng)):
        before = _observations(db)
        f = tmp_path / "in" / _file_name(kind, sample, i)
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(data)
        result = ingest(loaded, kind, files=[f], **flags)
        assert result.exit_code in (0, 1, 2), (what, result.summary())
        if result.failed_payloads:
            assert _observations(db) == before, what
        with sqlite3.connect(db) as c:
            assert c.execute("pragma integrity_check").fetchone()[0] == "ok", what
        f.unlink()
