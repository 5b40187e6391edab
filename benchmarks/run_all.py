"""Run every benchmark and write one Markdown file of results with the machine's description.

.venv/bin/python benchmarks/run_all.py [--quick] [--out benchmarks/RESULTS.md]

The full run takes about an hour and a half on 2 cores, most of it the national year of
bench_scale.py (generated once and cached in the temporary folder's envwatch-bench/days);
bench_queries.py reuses that year's store, which is deleted at the end. --quick takes minutes.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench_scale builds the national year and keeps it; bench_queries then times the canned
# queries on that store instead of building a second year (half an hour saved)
FIRST = ["bench_scale.py"]
BENCHES = sorted(HERE.glob("bench_*.py"), key=lambda p: (p.name not in FIRST, p.name))
WORK = Path(tempfile.gettempdir()) / "envwatch-bench"
YEAR = WORK / "run365" / "envwatch.db"


def arguments(bench: Path, quick: bool) -> list[str]:
    if quick:
        return ["--quick"]
    if bench.name == "bench_scale.py":
        return ["--work", str(WORK), "--keep"]
    if bench.name == "bench_queries.py" and YEAR.exists():
        return ["--db", str(YEAR)]
    return []


def machine() -> str:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import pandas

    return (
        f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"numpy {numpy.__version__}, pandas {pandas.__version__}"
    )


def _stem(name: str) -> str:
    return Path(name).stem if name.endswith(".py") else name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--only", nargs="+", default=None, metavar="NAME", help="run these benchmarks only"
    )
    ap.add_argument(
        "--take",
        nargs="+",
        default=[],
        metavar="NAME=FILE",
        help="use FILE (the output of a separate run of NAME with the same arguments) for NAME",
    )
    args = ap.parse_args()
    taken = {_stem(k): Path(v) for k, v in (t.split("=", 1) for t in args.take)}
    wanted = {_stem(n) for n in args.only} if args.only else None
    parts = [
        "# Benchmark results\n",
        f"Made by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}.\n",
    ]
    if taken:
        names = ", ".join(f"`{k}.py`" for k in sorted(taken))
        parts.append(
            f"The sections of {names} are from a separate run of the same command on the same "
            "machine the same day (`run_all.py --take`).\n"
        )
    failed = False
    ran_scale = False
    for bench in BENCHES:
        if wanted is not None and bench.stem not in wanted | set(taken):
            continue
        if bench.stem in taken:
            parts.append(taken[bench.stem].read_text().strip() + "\n")
            continue
        cmd = [sys.executable, str(bench), *arguments(bench, args.quick)]
        ran_scale |= bench.name == "bench_scale.py"
        print(f"running {bench.name} ...", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
        if proc.returncode != 0:
            failed = True
            parts.append(f"## {bench.name}: FAILED\n\n```\n{proc.stderr[-2000:]}\n```\n")
        else:
            parts.append(proc.stdout.strip() + "\n")
    if ran_scale and not args.quick:
        for run in WORK.glob("run*"):  # the stores bench_scale kept (GB); the days stay cached
            shutil.rmtree(run, ignore_errors=True)
    text = "\n".join(parts)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    print(text)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
