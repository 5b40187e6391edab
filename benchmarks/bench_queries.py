"""Latency of every canned query (queries.yaml) on a store holding a national year of air data.

    .venv/bin/python benchmarks/bench_queries.py [--days 365] [--quick] [--db PATH] [--repeat 3]

1. Builds a store: `--days` synthetic national days from 2025-01-01 (benchmarks/synth.py, every
   station of the CNEMC archive, `--all-sites`), ingested month by month, plus the bundled water
   page and the example lab sheet. A year takes 15-20 minutes; `--quick` makes 7 days.
   With `--db PATH` the store is kept there and reused by later runs (only missing days are
   ingested), so the queries can be timed again without rebuilding it.
2. Runs each canned query with its default parameters (and the air ones once more for a whole
   city, `city=宁波市`), `--repeat` times, through `envwatch.query.run_canned` (the same path as
   `envwatch query NAME`) and through Datasette's JSON (in-process, as `envwatch serve` answers
   it), and prints a Markdown table: rows returned, best and worst latency. Goal: every canned
   query under 1 s.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envwatch.config import load_config  # noqa: E402
from envwatch.pipeline import ingest  # noqa: E402

from benchmarks.synth import make_days  # noqa: E402

START = date(2025, 1, 1)
WATER_PAGE = ROOT / "data" / "samples" / "water" / "cnemc_realtime_snapshot_20260821_p1.json"
LAB_SHEET = ROOT / "data" / "examples" / "lab-sheet-example.csv"


def _stored_days(db: Path) -> set[date]:
    if not db.exists():
        return set()
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute("SELECT DISTINCT date FROM air_day").fetchall()
        except sqlite3.OperationalError:
            return set()
    return {date.fromisoformat(r[0]) for r in rows}


def build_store(db: Path, work: Path, n_days: int, chunk: int = 31) -> list[tuple[str, str]]:
    """Ingest the synthetic days the store lacks, month-sized chunk by chunk; return figures."""
    loaded = load_config(ROOT / "stations.yaml")
    have = _stored_days(db)
    wanted = [START + timedelta(days=k) for k in range(n_days)]
    missing = [d for d in wanted if d not in have]  # each file is stored whole or not at all
    t = time.perf_counter()
    values = 0
    runs: list[list[date]] = []
    for d in missing:  # contiguous runs of days, at most `chunk` long
        if runs and runs[-1][-1] + timedelta(days=1) == d and len(runs[-1]) < chunk:
            runs[-1].append(d)
        else:
            runs.append([d])
    for days in runs:
        folder = work / f"synth-{days[0]:%Y%m%d}"
        files = make_days(folder, days[0], len(days), seed=int(f"{days[0]:%Y%m%d}"))
        result = ingest(
            loaded, "cnemc-air-archive", db=db, files=[str(p) for p in files], all_sites=True
        )
        values += result.new
        for p in files:
            p.unlink()
        print(
            f"  ingested {days[0]} … {days[-1]}: {result.new:,} new values "
            f"({time.perf_counter() - t:.0f} s so far)",
            file=sys.stderr,
        )
    ingest(loaded, "cnemc-water", db=db, files=[str(WATER_PAGE)], all_sites=True)
    ingest(loaded, "lab-sheet", db=db, files=[str(LAB_SHEET)])
    build = time.perf_counter() - t
    with sqlite3.connect(db) as conn:
        n_obs = conn.execute("SELECT count(*) FROM observations").fetchone()[0]
        n_hours = conn.execute("SELECT count(*) FROM air_hour").fetchone()[0]
        n_days = conn.execute("SELECT count(*) FROM air_day").fetchone()[0]
        n_sites = conn.execute("SELECT count(*) FROM sites WHERE kind = 'air'").fetchone()[0]
        first, last = conn.execute("SELECT min(date), max(date) FROM air_day").fetchone()
    size = db.stat().st_size
    return [
        ("air days in the store", f"{first} … {last}"),
        ("air stations", f"{n_sites:,}"),
        ("observations", f"{n_obs:,}"),
        ("station-hours (air_hour)", f"{n_hours:,}"),
        ("station-days (air_day)", f"{n_days:,}"),
        ("store size", f"{size / 1e9:.2f} GB"),
        ("build time (this run)", f"{build:.0f} s ({values:,} new values)"),
    ]


def time_queries(db: Path, repeat: int) -> list[tuple[str, str, int, float, float, float]]:
    """(query, parameters, rows, best s, worst s, worst s through Datasette) per canned query."""
    import asyncio
    from urllib.parse import urlencode

    from envwatch.query import load_queries, run_canned
    from envwatch.serve import build_datasette, database_name

    queries = load_queries()
    cases: list[tuple[str, dict[str, str]]] = []
    for name, q in queries.items():
        cases.append((name, {}))
        if "city" in q.params:
            cases.append((name, {"city": "宁波市"}))
    ds = build_datasette(db, queries)
    base = f"/{database_name(db)}"

    async def via_datasette(name: str, params: dict[str, str]) -> float:
        await ds.invoke_startup()
        worst = 0.0
        for _ in range(repeat):
            t = time.perf_counter()
            r = await ds.client.get(
                f"{base}/{name}.json?{urlencode({**params, '_shape': 'array'})}"
            )
            worst = max(worst, time.perf_counter() - t)
            assert r.status_code == 200, (name, r.text[:300])
        return worst

    out = []
    for name, params in cases:
        times = []
        rows = 0
        for _ in range(repeat):
            t = time.perf_counter()
            df = run_canned(db, queries[name], params)
            times.append(time.perf_counter() - t)
            rows = len(df)
        web = asyncio.run(via_datasette(name, params))
        label = " ".join(f"{k}={v}" for k, v in params.items()) or "(defaults)"
        out.append((name, label, rows, min(times), max(times), web))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=365, help="national days to generate (365)")
    ap.add_argument("--quick", action="store_true", help="7 days instead of --days")
    ap.add_argument("--db", type=Path, default=None, help="keep (and reuse) the store here")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each query (3)")
    args = ap.parse_args()
    n_days = 7 if args.quick else args.days
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        db = args.db if args.db is not None else work / "bench.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        facts = build_store(db, work, n_days)
        timings = time_queries(db, args.repeat)
    print(f"## Canned queries on a national store of {n_days} days (issue 8)\n")
    print("| store | |\n|---|---|")
    for k, v in facts:
        print(f"| {k} | {v} |")
    print(
        f"\n| canned query | parameters | rows | best of {args.repeat} | worst | "
        "worst through Datasette (JSON) | under 1 s |\n|---|---|---:|---:|---:|---:|---|"
    )
    for name, label, rows, best, worst, web in timings:
        ok = "yes" if max(worst, web) < 1 else "**no**"
        print(
            f"| `{name}` | {label} | {rows:,} | {best * 1000:.0f} ms | {worst * 1000:.0f} ms "
            f"| {web * 1000:.0f} ms | {ok} |"
        )


if __name__ == "__main__":
    main()
