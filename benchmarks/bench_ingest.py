"""Ingest speed against a bare sqlite3 insert, and peak memory of a 30-day national backfill.

    .venv/bin/python benchmarks/bench_ingest.py [--quick]

1. Both real sample days with --all-sites (about a million values) through envwatch end to end
   (archive, parse, normalise, upsert with revision check, derive hourly AQI), and in the same
   run the two bare `executemany` baselines of benchmarks/bare.py with the same values.
   The goal of issue 16 is measured as staff run it: `envwatch ingest` as a command (a new
   process, start-up and imports included) against a bare `executemany` of the same values,
   pre-sorted by key, into a table with the same key: their ratio must reach 0.5.
2. A 30-day national backfill from synthetic days (benchmarks/synth.py), in a child process:
   its peak resident memory (ru_maxrss) and time. Goal: under 1 GiB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envwatch.config import load_config  # noqa: E402
from envwatch.pipeline import ingest  # noqa: E402

from benchmarks.bare import Bare, rows_of  # noqa: E402
from benchmarks.synth import make_days  # noqa: E402

SAMPLES = ROOT / "data" / "samples" / "air"


def bench_samples(tmp: Path) -> list[tuple[str, str]]:
    loaded = load_config(ROOT / "stations.yaml")
    t = time.perf_counter()
    result = ingest(
        loaded, "cnemc-air-archive", db=tmp / "envwatch.db", files=[SAMPLES], all_sites=True
    )
    t_env = time.perf_counter() - t
    n = result.new
    rows = [r for p in sorted(SAMPLES.glob("china_sites_*.csv")) for r in rows_of(p)]
    assert len(rows) == n, (len(rows), n)
    t_bare = t_bare_sorted = 0.0
    for tuned, name in ((False, "bare.db"), (True, "tuned.db")):
        bare = Bare(tmp / name, tuned)
        spent = bare.insert(rows)
        bare.close()
        if tuned:
            t_bare_sorted = spent
        else:
            t_bare = spent
    size = (tmp / "envwatch.db").stat().st_size + sum(
        f.stat().st_size for f in tmp.glob("envwatch.db-wal")
    )
    return [
        ("values (2 sample days, --all-sites)", f"{n:,}"),
        (
            "envwatch end to end (archive, parse, upsert, derive)",
            f"{t_env:.2f} s = {n / t_env:,.0f} values/s",
        ),
        ("bare executemany, plain (file order)", f"{t_bare:.2f} s = {n / t_bare:,.0f} values/s"),
        (
            "bare executemany, tuned (key order, sort timed, envwatch's cache)",
            f"{t_bare_sorted:.2f} s = {n / t_bare_sorted:,.0f} values/s",
        ),
        ("**ratio envwatch / plain bare** (goal ≥ 0.5)", f"**{t_bare / t_env:.2f}**"),
        ("ratio envwatch / tuned bare", f"{t_bare_sorted / t_env:.2f}"),
        (
            "store size incl. raw archive",
            f"{size / 1e6:.1f} MB = {size / n * 1e6 / 1e6:.0f} MB per million values",
        ),
    ]


def bench_command(tmp: Path) -> list[tuple[str, str]]:
    """`envwatch ingest` as a process vs a bare executemany of the same rows, pre-sorted."""
    rows = sorted(r for p in sorted(SAMPLES.glob("china_sites_*.csv")) for r in rows_of(p))
    bare = Bare(tmp / "presorted.db", tuned=False)
    t_bare = bare.insert(rows)  # already in key order: the sort costs nothing
    bare.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-c",
        "import sys; from envwatch.cli import main; sys.exit(main())",
        "--config",
        str(ROOT / "stations.yaml"),
        "--db",
        str(tmp / "command.db"),
        "ingest",
        "cnemc-air-archive",
        "--file",
        str(SAMPLES),
        "--all-sites",
    ]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    t_cmd = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"envwatch ingest failed ({out.returncode}): {out.stdout}{out.stderr}")
    t0 = time.perf_counter()
    subprocess.run([*cmd[:3], "--help"], capture_output=True, cwd=ROOT, env=env, check=True)
    t_start = time.perf_counter() - t0
    n = len(rows)
    return [
        (
            "`envwatch ingest --all-sites` as a command (start-up included)",
            f"{t_cmd:.2f} s = {n / t_cmd:,.0f} values/s",
        ),
        ("of which start-up (`envwatch --help`)", f"{t_start:.2f} s"),
        (
            "bare executemany, rows pre-sorted by key",
            f"{t_bare:.2f} s = {n / t_bare:,.0f} values/s",
        ),
        ("**ratio bare pre-sorted / command** (issue 16 goal ≥ 0.5)", f"**{t_bare / t_cmd:.2f}**"),
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
    ap.add_argument("--samples-only", action="store_true", help="skip the backfill")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = bench_command(tmp) + bench_samples(tmp)
        if not args.samples_only:
            rows += bench_backfill(tmp, 3 if args.quick else 30)
    print("## Ingest (issue 2)\n")
    print("| measure | result |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
