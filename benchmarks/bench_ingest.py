"""Ingest speed against a bare sqlite3 insert, and peak memory of a 30-day national backfill.

    .venv/bin/python benchmarks/bench_ingest.py [--quick]

1. Both real sample days with --all-sites (about a million values) through envwatch end to end
   (archive, parse, normalise, upsert with revision check, derive hourly AQI), and in the same
   run a bare `executemany` of the same values into an empty table with the same key.
2. A 30-day national backfill from synthetic days (benchmarks/synth.py), in a child process:
   its peak resident memory (ru_maxrss) and time. Goal: under 1 GiB.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envwatch.config import load_config  # noqa: E402
from envwatch.pipeline import ingest, normalise  # noqa: E402
from envwatch.sources import cnemc_air_archive  # noqa: E402

from benchmarks.synth import make_days  # noqa: E402

SAMPLES = ROOT / "data" / "samples" / "air"


def bare_insert(db: Path, rows: list[tuple], sort: bool) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(
        "CREATE TABLE observations (site_id TEXT NOT NULL, parameter TEXT NOT NULL, "
        "averaging TEXT NOT NULL, period_end INTEGER NOT NULL, value REAL, flag TEXT NOT NULL, "
        "run_id INTEGER NOT NULL, PRIMARY KEY (site_id, parameter, averaging, period_end)) "
        "STRICT, WITHOUT ROWID"
    )
    if sort:
        rows = sorted(rows, key=lambda r: r[:4])
    t = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t
    conn.close()
    return elapsed


def sample_rows() -> list[tuple]:
    rows: list[tuple] = []
    for p in sorted(SAMPLES.glob("china_sites_*.csv")):
        obs, _ = normalise(cnemc_air_archive.read(p.read_bytes(), name=p.name))
        rows += list(
            zip(
                obs["site_id"].tolist(),
                obs["parameter"].tolist(),
                obs["averaging"].tolist(),
                obs["period_end"].tolist(),
                obs["value"].tolist(),
                obs["flag"].tolist(),
                [1] * len(obs),
                strict=True,
            )
        )
    return rows


def bench_samples(tmp: Path) -> list[tuple[str, str]]:
    loaded = load_config(ROOT / "stations.yaml")
    t = time.perf_counter()
    result = ingest(
        loaded, "cnemc-air-archive", db=tmp / "envwatch.db", files=[SAMPLES], all_sites=True
    )
    t_env = time.perf_counter() - t
    n = result.new
    rows = sample_rows()
    assert len(rows) == n, (len(rows), n)
    t_bare = bare_insert(tmp / "bare.db", rows, sort=False)
    t_bare_sorted = bare_insert(tmp / "bare_sorted.db", rows, sort=True)
    size = (tmp / "envwatch.db").stat().st_size + sum(
        f.stat().st_size for f in tmp.glob("envwatch.db-wal")
    )
    return [
        ("values (2 sample days, --all-sites)", f"{n:,}"),
        (
            "envwatch end to end (archive, parse, upsert, derive)",
            f"{t_env:.2f} s = {n / t_env:,.0f} values/s",
        ),
        ("bare executemany, file order", f"{t_bare:.2f} s = {n / t_bare:,.0f} values/s"),
        (
            "bare executemany, key order (rows pre-sorted, sort not timed)",
            f"{t_bare_sorted:.2f} s = {n / t_bare_sorted:,.0f} values/s",
        ),
        ("**ratio envwatch / bare (file order)** (goal ≥ 0.5)", f"**{t_bare / t_env:.2f}**"),
        ("ratio envwatch / bare (key order)", f"{t_bare_sorted / t_env:.2f}"),
        (
            "store size incl. raw archive",
            f"{size / 1e6:.1f} MB = {size / n * 1e6 / 1e6:.0f} MB per million values",
        ),
    ]


def bench_backfill(tmp: Path, days: int) -> list[tuple[str, str]]:
    folder = tmp / f"synth{days}"
    make_days(folder, date(2025, 1, 1), days)
    code = (
        "import resource, sys, time\n"
        "from envwatch.config import load_config\n"
        "from envwatch.pipeline import ingest\n"
        "t = time.perf_counter()\n"
        f"r = ingest(load_config({str(ROOT / 'stations.yaml')!r}), 'cnemc-air-archive', "
        f"db={str(tmp / 'backfill.db')!r}, files=[{str(folder)!r}], all_sites=True)\n"
        "print(r.new, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    new, seconds, rss_kb = out.stdout.split()
    rss = int(rss_kb) / 1024
    return [
        (f"{days}-day national backfill: values", f"{int(new):,}"),
        (
            f"{days}-day national backfill: time",
            f"{float(seconds):.1f} s = {int(new) / float(seconds):,.0f} values/s",
        ),
        (f"**{days}-day national backfill: peak memory** (goal < 1024 MiB)", f"**{rss:.0f} MiB**"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="3 days instead of 30 for the backfill")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = bench_samples(tmp) + bench_backfill(tmp, 3 if args.quick else 30)
    print("## Ingest (issue 2)\n")
    print("| measure | result |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
