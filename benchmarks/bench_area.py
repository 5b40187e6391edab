"""Benchmark of the area values (issue 13): every city of a national year, and its months.

    .venv/bin/python benchmarks/bench_area.py            # 1,605 stations, 367 cities, a year
    .venv/bin/python benchmarks/bench_area.py --quick    # 200 stations, a quarter

Target from the issue: the area values (hourly and daily city values) and the month
statistics (HJ 663 period statistics of each city and month) of all cities of a national year
in under 60 s. The stations are the national list's (`data/samples/air/StationList-2020.01.01.csv`)
with its cities; their hourly values are synthetic (`bench_standards.synthetic_year`, seeded),
and generating them is not timed. The work is done a month at a time, as
`envwatch.area.recompute_all` does it on a store; reading and writing the store are not
included (see bench_scale.py for the store).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_standards import synthetic_year  # noqa: E402

from envwatch.area import city_name  # noqa: E402
from envwatch.sources.cnemc_air_archive import read_station_list  # noqa: E402
from envwatch.standards import air_stats  # noqa: E402
from envwatch.standards import area as rules  # noqa: E402

STATION_LIST = ROOT / "data" / "samples" / "air" / "StationList-2020.01.01.csv"


def stations(n: int) -> pd.DataFrame:
    """The first `n` stations of the national list, with their city in full (宁波 -> 宁波市)."""
    sl = read_station_list(STATION_LIST.read_bytes()).head(n)
    return pd.DataFrame({"site_id": sl["site_id"], "city": sl["city"].map(city_name)})


def run(hours: pd.DataFrame, members: pd.DataFrame) -> dict[str, float]:
    """Area values month by month, then each city's statistics of each month; seconds by step."""
    spent = {"station days": 0.0, "area hours": 0.0, "area days": 0.0, "month statistics": 0.0}
    month = (hours["time_local"] - pd.Timedelta(hours=1)).dt.to_period("M")
    area_days = []
    for _, part in hours.groupby(month, sort=True):
        t0 = time.perf_counter()
        station_days = air_stats.daily_stats(part)
        t1 = time.perf_counter()
        day = (part["time_local"] - pd.Timedelta(hours=1)).dt.normalize()
        area_h = rules.area_hourly(part, members)
        t2 = time.perf_counter()
        grid = members.merge(pd.DataFrame({"date": day.unique()}), how="cross")
        area_days.append(rules.area_daily(station_days, grid, area_h))
        t3 = time.perf_counter()
        spent["station days"] += t1 - t0
        spent["area hours"] += t2 - t1
        spent["area days"] += t3 - t2
    days = pd.concat(area_days, ignore_index=True)
    t0 = time.perf_counter()
    for _, part in days.groupby(pd.DatetimeIndex(days["date"]).to_period("M"), sort=True):
        first = pd.Timestamp(part["date"].min())
        air_stats.period_stats(part, first, first + pd.offsets.MonthEnd(0), by=["level", "area"])
    spent["month statistics"] = time.perf_counter() - t0
    return spent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 stations, three months")
    parser.add_argument("--sites", type=int, help="stations (1,605)")
    parser.add_argument("--seed", type=int, default=20190101)
    args = parser.parse_args(argv)
    n_sites = args.sites or (200 if args.quick else 1605)
    st = stations(n_sites)
    hours = synthetic_year(len(st), 2019, np.random.default_rng(args.seed))
    codes = dict(zip([f"{1001 + i}A" for i in range(len(st))], st["site_id"], strict=True))
    hours["site_id"] = hours["site_id"].map(codes)
    if args.quick:
        hours = hours.loc[hours["time_local"] <= pd.Timestamp("2019-04-01 00:00")]
    members = pd.DataFrame({"level": "city", "area": st["city"], "site_id": st["site_id"]})
    spent = run(hours, members)
    total = sum(spent.values())
    n_cities = members["area"].nunique()
    print(f"# Area values ({platform.python_implementation()} {platform.python_version()})\n")
    print(f"{len(st):,} stations in {n_cities} cities, {len(hours):,} station-hours\n")
    print("| step | time |")
    print("|---|---|")
    for step, secs in spent.items():
        print(f"| {step} | {secs:.1f} s |")
    verdict = "under" if total < 60 else "OVER"
    print(
        f"| **area values and month statistics, all cities** | **{total:.1f} s** ({verdict} 60 s) |"
    )


if __name__ == "__main__":
    main()
