"""Time the weekly report for the demo store and measure its file.

Builds the demo store in a temporary folder as `make demo` does (the bundled real air samples,
2019-01-01/02, and water page; the example sheets of data/examples/: Zhenhai lab samples,
outfall inspections, zero-discharge zones with outlines, zero-waste indicators and cells), then
writes the report of 2019-W01 three ways: the command line in a fresh process (what cron
or a person runs: imports included), and in-process twice (first and warm). Goals: under 5 s
and under 3 MB. Prints a Markdown table; ``--quick`` is accepted and changes nothing (the
demo store is already small).

    .venv/bin/python benchmarks/bench_report.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEEK = "2019-W01"
GOAL_SECONDS = 5.0
GOAL_BYTES = 3_000_000


def _envwatch(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "envwatch"
    return subprocess.run(
        [str(exe), "--config", str(config), *args], capture_output=True, text=True, check=True
    )


def demo_store(folder: Path) -> Path:
    """The store of `make demo` under `folder`; returns the config path."""
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = text.replace("store: envwatch.db", f"store: {folder / 'envwatch.db'}", 1)
    text = text.replace("station_list: data/", f"station_list: {ROOT}/data/")
    config = folder / "stations.yaml"
    config.write_text(text, encoding="utf-8")
    _envwatch(config, "init")
    air = ROOT / "data" / "samples" / "air"
    _envwatch(
        config,
        "ingest",
        "cnemc-air-archive",
        "--file",
        str(air / "china_sites_20190101.csv"),
        "--file",
        str(air / "china_sites_20190102.csv"),
    )
    water = ROOT / "data" / "samples" / "water" / "cnemc_realtime_snapshot_20260821_p1.json"
    _envwatch(config, "ingest", "cnemc-water", "--file", str(water))
    examples = ROOT / "data" / "examples"
    for source, name, add_sites in (
        ("lab-sheet", "lab-sheet-zhenhai-2019-01.csv", True),
        ("outfall-sheet", "outfall-sheet-example.csv", True),
        ("zone-sheet", "zone-sheet-example.geojson", False),
        ("indicator-sheet", "indicator-sheet-example.csv", False),
        ("cells-sheet", "cells-sheet-example.csv", False),
    ):
        extra = ["--add-sites"] if add_sites else []
        _envwatch(config, "ingest", source, "--file", str(examples / name), *extra)
    return config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = demo_store(folder)
        out = folder / "maps"
        t0 = time.perf_counter()
        _envwatch(config, "report", "--week", WEEK, "--out", str(out))
        cli = time.perf_counter() - t0

        from envwatch.config import load_config
        from envwatch.report import write_report

        loaded = load_config(config)
        t0 = time.perf_counter()
        path = write_report(loaded, loaded.store_path, WEEK, out)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_report(loaded, loaded.store_path, WEEK, out)
        warm = time.perf_counter() - t0
        size = path.stat().st_size
    ok = "✓" if cli < GOAL_SECONDS and size < GOAL_BYTES else "✗"
    print(f"## bench_report: the weekly report of the demo store ({WEEK})\n")
    print("| what | figure | goal |")
    print("|---|---|---|")
    print(
        f"| `envwatch report` in a new process (imports included) | {cli:.2f} s | < {GOAL_SECONDS:g} s {ok} |"
    )
    print(f"| `write_report` in-process, first call | {first:.2f} s | |")
    print(f"| `write_report` in-process, warm | {warm:.2f} s | |")
    print(f"| file size | {size / 1e6:.2f} MB ({size:,} bytes) | < 3 MB |")


if __name__ == "__main__":
    main()
