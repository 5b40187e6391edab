"""A year of hourly data of provincial stations from staff sheets, through `envwatch ingest`.

Issue 14's goal: a year for 200 stations (1.75 M station-hours) ingests in under 5 minutes.
The sheets are made up here (one CSV a month, the columns of data/examples/air-sheet-template.csv,
random but plausible values); the command is run as staff run it, a new process with
``--add-sites``, start-up and the derivation of hourly and daily AQI and area values included.

    .venv/bin/python benchmarks/bench_air_sheet.py [--stations 200] [--days 365]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["PM2.5(μg/m³)", "PM10(μg/m³)", "SO2(μg/m³)", "NO2(μg/m³)", "CO(mg/m³)", "O3(μg/m³)"]


def make_sheets(folder: Path, stations: int, days: int, seed: int = 14) -> int:
    """Monthly CSV sheets for `stations` made-up stations over `days` days from 2019-01-01."""
    rng = np.random.default_rng(seed)
    codes = [f"SB{i:04d}" for i in range(stations)]
    lon = 121.40 + rng.random(stations) * 0.5  # around the city of Ningbo
    lat = 29.75 + rng.random(stations) * 0.25
    hours = pd.date_range(datetime(2019, 1, 1, 1), periods=days * 24, freq="h")
    rows = 0
    for month, idx in pd.Series(range(len(hours)), index=hours).groupby(hours.month):
        times = hours[idx.to_numpy()]
        n = len(times) * stations
        frame = pd.DataFrame(
            {
                "站点编码": np.tile(codes, len(times)),
                "站点名称": np.tile([f"测试站{i}" for i in range(stations)], len(times)),
                "监测时间": np.repeat(times.strftime("%Y-%m-%d %H:%M"), stations),
            }
        )
        scale = {"PM2.5": 40, "PM10": 65, "SO2": 8, "NO2": 35, "CO": 0.8, "O3": 70}
        for col in COLUMNS:
            mean = scale[col.split("(")[0]]
            values = rng.gamma(4.0, mean / 4.0, n)
            frame[col] = values.round(1) if col.startswith("CO") else values.round()
        frame["经度"] = np.tile(lon.round(4), len(times))
        frame["纬度"] = np.tile(lat.round(4), len(times))
        frame["控制级别"] = "省控"
        frame.to_csv(folder / f"air-sheet-2019-{month:02d}.csv", index=False)
        rows += n
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    exe = Path(sys.executable).parent / "envwatch"
    with tempfile.TemporaryDirectory(prefix="envwatch-bench-air-sheet-") as tmp:
        folder = Path(tmp) / "sheets"
        folder.mkdir()
        rows = make_sheets(folder, args.stations, args.days)
        db = Path(tmp) / "envwatch.db"
        config = ROOT / "stations.yaml"
        cmd = [str(exe), "--config", str(config), "--db", str(db)]
        subprocess.run([*cmd, "init"], check=True, capture_output=True)
        start = time.perf_counter()
        done = subprocess.run(
            [*cmd, "ingest", "air-sheet", "--file", str(folder), "--add-sites"],
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - start
        print(done.stdout.strip().splitlines()[0] if done.stdout.strip() else done.stderr[-500:])
        print(
            f"air-sheet: {args.stations} stations x {args.days} days = {rows:,} station-hours "
            f"in {took:.0f} s ({timedelta(seconds=round(took))}), {rows / took:,.0f} station-hours/s, "
            f"exit {done.returncode} (goal for 1.75 M: under 300 s)"
        )


if __name__ == "__main__":
    main()
