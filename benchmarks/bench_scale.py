"""How cost grows with work: 1, 30 and 365 days of national data on one machine.

    .venv/bin/python benchmarks/bench_scale.py [--days 1 30 365] [--work DIR] [--keep]

For each N: generate N synthetic national days (benchmarks/synth.py, seeded; cached in the work
folder), then in a child process ingest them with envwatch (`--all-sites`, a week per run as a
backfill does) and measure time and peak memory; in the same run, the two bare
`sqlite3.executemany` baselines of benchmarks/bare.py (plain: file order, default cache; tuned:
key order with the sort timed, envwatch's cache) with the same values, a day per transaction.
Then on the N-day store: store size per million values, the time to recompute every derived
hourly and daily result, the year-to-date scorecard, the weekly report and each canned query.

Goals (issue 9): envwatch ≥ 0.5 of the plain bare insert rate; peak memory under 2 GiB for the year;
time per value from 30 to 365 days grows by at most 1.5x; scorecard < 10 s; report < 5 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks.bare import bare_files  # noqa: E402

START = date(2025, 1, 1)

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from envwatch.config import load_config
from envwatch.pipeline import ingest
cfg, db, files = sys.argv[1], sys.argv[2], [Path(p) for p in sys.argv[3:]]
loaded = load_config(cfg)
t = time.perf_counter()
new = 0
for i in range(0, len(files), 7):
    r = ingest(loaded, "cnemc-air-archive", db=db, files=files[i:i + 7], all_sites=True)
    new += r.new
print(json.dumps({"new": new, "seconds": time.perf_counter() - t,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def days_folder(work: Path, n: int) -> list[Path]:
    from benchmarks.synth import Generator

    folder = work / "days"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"china_sites_{START + timedelta(days=k):%Y%m%d}.csv" for k in range(n)]
    if all(p.exists() for p in paths):
        return paths
    gen = Generator()
    for k, p in enumerate(paths):
        text = gen.day(START + timedelta(days=k))  # keeps the AR(1) state in order
        if not p.exists():
            p.write_text(text)
    return paths


def rederive(db: Path, cfg: Path, group: int = 20) -> tuple[float, float]:
    """Recompute every hourly and daily air result of the store, `group` stations at a time.

    The rows are read by station (a range of the observations key), never by time alone: a
    read by time would scan the whole table once per slice (hours on a national year).
    """
    import pandas as pd

    from envwatch import air
    from envwatch.config import load_config
    from envwatch.pipeline import open_store

    loaded = load_config(cfg)
    store = open_store(loaded, db)
    tz = loaded.config.timezone
    t_hours = t_days = 0.0
    try:
        sites = [
            r[0]
            for r in store.conn.execute(
                "SELECT DISTINCT site_id FROM air_hour ORDER BY site_id"
            ).fetchall()
        ]
        for i in range(0, len(sites), group):
            chunk = sites[i : i + group]
            marks = ", ".join("?" * len(chunk))
            rows = store.conn.execute(
                "SELECT site_id, parameter, averaging, period_end, value, flag FROM observations "
                f"WHERE site_id IN ({marks}) AND averaging IN ('1h', '24h')",
                chunk,
            ).fetchall()
            long = pd.DataFrame(
                rows, columns=["site_id", "parameter", "averaging", "period_end", "value", "flag"]
            )
            del rows
            keys = long.loc[long["averaging"] == "1h", ["site_id", "period_end"]].drop_duplicates()
            t = time.perf_counter()
            with store.transaction():
                air.derive_hours(store, keys, long, lambda w: air.compute_hours(w, tz))
            t_hours += time.perf_counter() - t
            site_days = pd.DataFrame(
                {
                    "site_id": keys["site_id"].to_numpy(),
                    "date": air.natural_day_of(keys["period_end"], tz).to_numpy(),
                }
            ).drop_duplicates()
            t = time.perf_counter()
            with store.transaction():
                air.derive_days(store, site_days, tz)
            t_days += time.perf_counter() - t
    finally:
        store.close()
    return t_hours, t_days


def after(db: Path, cfg: Path, n: int) -> list[tuple[str, str]]:
    from envwatch import scoring
    from envwatch.config import load_config
    from envwatch.pipeline import open_store

    out: list[tuple[str, str]] = []
    loaded = load_config(cfg)
    end = START + timedelta(days=n - 1)
    store = open_store(loaded, db)
    try:
        t = time.perf_counter()
        scoring.score(loaded, store, str(START.year), today=end)
        out.append(("scorecard, year to date", f"{time.perf_counter() - t:.2f} s (goal < 10 s)"))
    finally:
        store.close()
    try:
        from envwatch.report import write_report  # type: ignore[attr-defined]

        year, week, _ = end.isocalendar()
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            path = write_report(loaded, db, f"{year}-W{week:02d}", Path(d))
            seconds = time.perf_counter() - t
            size = Path(path).stat().st_size / 1e6
        out.append(("weekly report", f"{seconds:.2f} s, {size:.1f} MB (goals < 5 s, < 3 MB)"))
    except ImportError:
        out.append(("weekly report", "report module not installed"))
    except Exception as e:  # a benchmark reports a failure, it does not stop the others
        out.append(("weekly report", f"FAILED: {type(e).__name__}: {e}"[:200]))
    from envwatch.query import load_queries, run_canned

    timings = []
    worst = 0.0
    for name, canned in load_queries().items():
        t = time.perf_counter()
        run_canned(db, canned, {})
        spent = time.perf_counter() - t
        worst = max(worst, spent)
        timings.append(f"{name} {spent * 1000:.0f} ms")
    out.append(("canned queries", "; ".join(timings) + f" (slowest {worst:.2f} s, goal < 1 s)"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--days", type=int, nargs="+", default=[1, 30, 365])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "envwatch-bench")
    ap.add_argument("--keep", action="store_true", help="keep the stores in the work folder")
    ap.add_argument("--quick", action="store_true", help="1 and 7 days")
    args = ap.parse_args()
    sizes = [1, 7] if args.quick else args.days
    from conftest import write_config

    args.work.mkdir(parents=True, exist_ok=True)
    files_all = days_folder(args.work, max(sizes))
    rows: list[tuple[str, str]] = []
    per_value: dict[int, float] = {}
    per_value_bare: dict[int, float] = {}
    print("## Scale (issue 9)\n")
    print("| measure | result |\n|---|---|", flush=True)

    def emit(new_rows: list[tuple[str, str]]) -> None:
        # printed as they come: a long run that is stopped still leaves its figures
        for k, v in new_rows:
            print(f"| {k} | {v} |", flush=True)
        rows.extend(new_rows)

    def emit1(row: tuple[str, str]) -> None:
        emit([row])

    for n in sizes:
        run = args.work / f"run{n}"
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir()
        cfg = write_config(run)
        files = files_all[:n]
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(cfg), str(run / "envwatch.db"), *map(str, files)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        m = json.loads(child.stdout.strip().splitlines()[-1])
        # each figure is printed as soon as it is measured: a long run stopped part-way still
        # leaves what it measured
        db = run / "envwatch.db"
        size = sum(p.stat().st_size for p in run.glob("envwatch.db*"))
        rate = m["new"] / m["seconds"]
        per_value[n] = m["seconds"] / m["new"]
        emit1((f"**{n} day(s)**: values", f"{m['new']:,}"))
        emit1((f"{n} d: envwatch ingest", f"{m['seconds']:.1f} s = {rate:,.0f} values/s"))
        if n >= 30 and any(k >= 30 for k in per_value if k != n):
            a = min(k for k in per_value if k >= 30)
            growth = per_value[n] / per_value[a]
            emit1((f"envwatch time per value, {n} d vs {a} d (goal ≤ 1.5x)", f"**{growth:.2f}x**"))
        emit1((f"{n} d: peak memory", f"{m['rss_mib']:.0f} MiB (goal < 2048 for the year)"))
        emit1(
            (
                f"{n} d: store size",
                f"{size / 1e6:,.0f} MB = {size / m['new']:.1f} MB per million values "
                "(raw archive included)",
            )
        )
        n_bare, t_bare = bare_files(run / "bare.db", files, tuned=False)
        emit1(
            (f"{n} d: bare executemany, plain", f"{t_bare:.1f} s = {n_bare / t_bare:,.0f} values/s")
        )
        emit1((f"{n} d: **ratio to plain** (goal ≥ 0.5)", f"**{rate / (n_bare / t_bare):.2f}**"))
        n_tuned, t_tuned = bare_files(run / "tuned.db", files, tuned=True)
        per_value_bare[n] = t_tuned / n_tuned
        emit1(
            (
                f"{n} d: bare executemany, tuned (key order, sort timed, same cache)",
                f"{t_tuned:.1f} s = {n_tuned / t_tuned:,.0f} values/s",
            )
        )
        emit1((f"{n} d: ratio to tuned", f"{rate / (n_tuned / t_tuned):.2f}"))
        for p in run.glob("*.db*"):
            if p.name.startswith(("bare.db", "tuned.db")):
                p.unlink()
        t_h, t_d = rederive(db, cfg)
        emit1((f"{n} d: derive all hours / all days", f"{t_h:.1f} s / {t_d:.1f} s"))
        emit([(f"{n} d: {k}", v) for k, v in after(db, cfg, n)])
        if not args.keep:
            shutil.rmtree(run, ignore_errors=True)
    big = [n for n in sizes if n >= 30 and n in per_value_bare]
    if len(big) >= 2:
        growth_bare = per_value_bare[big[-1]] / per_value_bare[big[0]]
        emit1((f"tuned bare time per value, {big[-1]} d vs {big[0]} d", f"{growth_bare:.2f}x"))


if __name__ == "__main__":
    main()
