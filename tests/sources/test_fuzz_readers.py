"""Every reader of envwatch/sources survives random and damaged input (issue 15, done-when).

Random bytes, truncations, flipped bytes, spliced lines and re-encodings (GBK, UTF-16, a BOM)
of the real example files go to every reader. Each must return a `Reading` or raise envwatch's
own `ParseError`/`FetchError`: never another exception (a traceback in the daily job).

Hypothesis runs derandomized (the same 30 examples per reader every run) and keeps no database,
so the test is quick (about 7 s) and leaves nothing in the repository. For a longer, random
search: ``ENVWATCH_FUZZ_EXAMPLES=500 pytest tests/sources/test_fuzz_readers.py``.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envwatch.errors import FetchError, ParseError
from envwatch.sources import (
    air_sheet,
    cells_sheet,
    cnemc_air_archive,
    cnemc_air_live,
    cnemc_water,
    indicator_sheet,
    lab_sheet,
    outfall_sheet,
    zone_sheet,
)
from envwatch.sources.base import Reading

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "data/examples"
NOW = datetime(2026, 9, 1, tzinfo=UTC)
AIR = pd.DataFrame({"site_id": ["1236A"], "name": ["龙赛医院"], "kind": ["air"]})
WATER = pd.DataFrame({"site_id": ["浙江省/大嵩"], "name": ["大嵩"], "kind": ["water"]})
INDICATORS = pd.DataFrame(
    [("hazardous_waste_utilisation", "危险废物利用处置率", "%", "")],
    columns=["id", "name", "unit", "aliases"],
)


def _head(path: Path, lines: int) -> bytes:
    """The first lines of a large sample: enough to be real, small enough to fuzz quickly."""
    return b"\n".join(path.read_bytes().splitlines()[:lines]) + b"\n"


Reader = Callable[[bytes], Any]

READERS: dict[str, tuple[Reader, bytes]] = {
    "cnemc-air-archive": (
        lambda b: cnemc_air_archive.read(b, name="f.csv", tz="Asia/Shanghai"),
        _head(ROOT / "data/samples/air/china_sites_20190101.csv", 40),
    ),
    "cnemc-station-list": (
        lambda b: cnemc_air_archive.read_station_list(b, name="list.csv"),
        _head(ROOT / "data/samples/air/StationList-2020.01.01.csv", 30),
    ),
    "cnemc-air-live": (
        lambda b: cnemc_air_live.read(b, name="f.json", tz="Asia/Shanghai"),
        (ROOT / "tests/data/cnemc_air_live_geojson_20180220T07.json").read_bytes(),
    ),
    "cnemc-water": (
        lambda b: cnemc_water.read_page(b, fetched_at=NOW, name="p.json")[0],
        (ROOT / "data/samples/water/cnemc_realtime_snapshot_20260821_p1.json").read_bytes(),
    ),
    "lab-sheet": (
        lambda b: lab_sheet.read(b, name="f", known_sites=WATER, add_sites=True, now=NOW),
        (EXAMPLES / "lab-sheet-example.csv").read_bytes(),
    ),
    "lab-sheet-xlsx": (
        lambda b: lab_sheet.read(b, name="f", known_sites=WATER, now=NOW),
        (EXAMPLES / "lab-sheet-example.xlsx").read_bytes(),
    ),
    "outfall-sheet": (
        lambda b: outfall_sheet.read(b, name="f", known_sites=WATER, add_sites=True, now=NOW),
        (EXAMPLES / "outfall-sheet-example.csv").read_bytes(),
    ),
    "zone-sheet": (
        lambda b: zone_sheet.read(b, name="f", now=NOW),
        (EXAMPLES / "zone-sheet-example.csv").read_bytes(),
    ),
    "zone-geojson": (
        lambda b: zone_sheet.read(b, name="f", now=NOW),
        (EXAMPLES / "zone-sheet-example.geojson").read_bytes(),
    ),
    "indicator-sheet": (
        lambda b: indicator_sheet.read(
            b, name="f", indicators=INDICATORS, district="镇海区", now=NOW
        ),
        (EXAMPLES / "indicator-sheet-example.csv").read_bytes(),
    ),
    "cells-sheet": (
        lambda b: cells_sheet.read(b, name="f", cell_types=cells_sheet.DEFAULT_CELL_TYPES, now=NOW),
        (EXAMPLES / "cells-sheet-example.csv").read_bytes(),
    ),
    "air-sheet": (
        lambda b: air_sheet.read(
            b, name="f", known_sites=AIR, add_sites=True, tz="Asia/Shanghai", now=NOW
        ),
        _head(EXAMPLES / "air-sheet-example.csv", 30),
    ),
}


def _reencode(data: bytes, encoding: str) -> bytes:
    text = data.decode("utf-8-sig", errors="replace")
    return text.encode(encoding, errors="replace")


def _unzip_damage(data: bytes, cut: int) -> bytes:
    """An XLSX whose worksheet XML is cut short (the zip itself is sound)."""
    if data[:2] != b"PK":
        return data[:cut]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            part = src.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                part = part[: cut % max(len(part), 1)]
            dst.writestr(info.filename, part)
    return out.getvalue()


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """A damaged version of `data`."""
    kind = draw(
        st.sampled_from(
            ["random", "truncate", "flip", "splice", "encode", "bom", "xml", "nested", "nul"]
        )
    )
    n = len(data)
    if kind == "nested":  # JSON nested deeper than Python's recursion limit
        return draw(st.sampled_from([b"[", b'{"a":'])) * 100_000
    if kind == "nul":
        i = draw(st.integers(0, n))
        return data[:i] + b"\x00" * draw(st.integers(1, 64)) + data[i:]
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "truncate":
        return data[: draw(st.integers(0, n))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, n - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    if kind == "splice":
        i, j = sorted(draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
        return data[:i] + draw(st.binary(max_size=40)) + data[j:]
    if kind == "encode":
        return _reencode(data, draw(st.sampled_from(["gbk", "utf-16", "utf-16-le", "latin-1"])))
    if kind == "bom":
        return draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])) + data
    return _unzip_damage(data, draw(st.integers(0, 5000)))


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_reader_returns_a_reading_or_raises_envwatch_errors(reader: str) -> None:
    read, example = READERS[reader]
    assert isinstance(read(example), Reading | pd.DataFrame)  # the real file reads

    @settings(
        max_examples=int(os.environ.get("ENVWATCH_FUZZ_EXAMPLES", "30")),
        deadline=None,
        derandomize="ENVWATCH_FUZZ_EXAMPLES" not in os.environ,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(damaged(example))
    def check(payload: bytes) -> None:
        try:
            got = read(payload)
        except (ParseError, FetchError) as err:
            assert str(err) and "\n" not in str(err), f"{reader}: message {str(err)!r}"
            return
        assert isinstance(got, Reading | pd.DataFrame)

    check()


def test_every_reader_module_is_fuzzed() -> None:
    """A new reader in envwatch/sources must be added to READERS above."""
    modules = {
        p.stem
        for p in (ROOT / "envwatch/sources").glob("*.py")
        if "\ndef read(" in p.read_text(encoding="utf-8") and p.stem != "sheet"
    }
    fuzzed = {kind.split("-xlsx")[0].split("-geojson")[0] for kind in READERS}
    fuzzed = {
        k.replace("cnemc-station-list", "cnemc-air-archive").replace("-", "_") for k in fuzzed
    }
    assert modules <= fuzzed, f"not fuzzed: {sorted(modules - fuzzed)}"
