"""Run every benchmark and write one Markdown file of results with the machine's description.

.venv/bin/python benchmarks/run_all.py [--quick] [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = sorted(p for p in HERE.glob("bench_*.py"))


def machine() -> str:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    parts = [
        "# Benchmark results\n",
        f"Made by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}.\n",
    ]
    failed = False
    for bench in BENCHES:
        cmd = [sys.executable, str(bench)] + (["--quick"] if args.quick else [])
        print(f"running {bench.name} ...", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
        if proc.returncode != 0:
            failed = True
            parts.append(f"## {bench.name}: FAILED\n\n```\n{proc.stderr[-2000:]}\n```\n")
        else:
            parts.append(proc.stdout.strip() + "\n")
    text = "\n".join(parts)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    print(text)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
