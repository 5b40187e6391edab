"""Time the GB 3838 classifier on a year of 4-hourly automatic-station data.

Synthetic data with a fixed seed: 1,617 sections (the national automatic network's size),
one sample every 4 hours for 365 days (~3.5 million samples), items ph, do, codmn, nh3n, tp,
tn, about 1% of values withheld (NaN) and one section in ten a lake. Goal: `classify` under
30 s. Prints a Markdown table; ``--quick`` runs 100 sections for a smoke test.

    .venv/bin/python benchmarks/bench_water.py [--quick] [--sections N] [--days N]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from envwatch.standards import water

GOAL_SECONDS = 30.0


def synthetic(sections: int, days: int, seed: int = 20260821) -> pd.DataFrame:
    """A wide sample frame: site_id, period_end (UTC), water_type and six items."""
    rng = np.random.default_rng(seed)
    per_site = days * 6
    n = sections * per_site
    site = np.repeat(np.arange(sections), per_site)
    start = pd.Timestamp("2026-01-01T00:00", tz="Asia/Shanghai").tz_convert("UTC")
    offsets = np.tile(np.arange(per_site, dtype=np.int64) * 4, sections)
    lake = rng.random(sections) < 0.1
    # Lognormal concentrations around each section's own level: most sections Ⅱ-Ⅳ, a few worse.
    level = rng.lognormal(0.0, 0.5, sections)[site]

    def conc(median: float, sigma: float) -> np.ndarray:
        return median * level * rng.lognormal(0.0, sigma, n)

    frame = pd.DataFrame(
        {
            "site_id": pd.Categorical.from_codes(
                site, pd.Index([f"S{i:04d}" for i in range(sections)])
            ),
            "period_end": start + pd.to_timedelta(offsets, unit="h"),
            "water_type": np.where(lake, "lake", "river")[site],
            "ph": rng.normal(7.6, 0.5, n),
            "do": np.clip(rng.normal(7.0, 1.8, n) / level, 0.1, None),
            "codmn": conc(3.5, 0.35),
            "nh3n": conc(0.35, 0.6),
            "tp": conc(0.09, 0.45) * np.where(lake, 0.5, 1.0)[site],
            "tn": conc(2.0, 0.4),
        }
    )
    for code in ("ph", "do", "codmn", "nh3n", "tp", "tn"):
        withheld = rng.random(n) < 0.01
        frame.loc[withheld, code] = np.nan
    return frame


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 sections, a smoke test")
    parser.add_argument("--sections", type=int, default=1617)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    sections = 100 if args.quick else args.sections

    samples, t_gen = timed(lambda: synthetic(sections, args.days))
    result, t_cls = timed(lambda: water.classify(samples, samples["water_type"], items="auto"))

    def monthly() -> pd.DataFrame:
        with_period = samples.assign(period=water.local_period(samples["period_end"], "M"))
        return water.period_means(with_period, by=["site_id", "period"])

    means, t_mean = timed(monthly)
    classes, t_mcls = timed(lambda: water.classify(means, means["water_type"]))
    _, t_cwqi = timed(lambda: water.cwqi(means, means["water_type"]))
    last = classes["class"].groupby(means["period"]).apply(list).iloc[-1]
    _, t_ratio = timed(lambda: (water.good_ratio(last), water.river_description(last)))

    n = len(samples)
    rows = [
        ("synthetic data (not timed against the goal)", n, t_gen),
        ("classify samples (auto items)", n, t_cls),
        ("monthly means (local months)", len(means), t_mean),
        ("classify monthly means", len(means), t_mcls),
        ("CWQI of monthly means", len(means), t_cwqi),
        ("good ratio + description, one month", len(last), t_ratio),
    ]
    print(f"# bench_water: {sections:,} sections x {args.days} days, 4-hourly\n")
    print(
        f"Python {platform.python_version()}, pandas {pd.__version__}, "
        f"numpy {np.__version__}, {platform.machine()}\n"
    )
    print("| step | rows | seconds | rows/s |")
    print("|---|---:|---:|---:|")
    for step, count, seconds in rows:
        rate = count / seconds if seconds > 0 else float("inf")
        print(f"| {step} | {count:,} | {seconds:.2f} | {rate:,.0f} |")
    share = result["class"].value_counts(normalize=True).sort_index()
    print(
        "\nClass shares of the samples: "
        + ", ".join(f"{water.CLASS_LABELS[int(k)]} {v:.0%}" for k, v in share.items())
    )
    verdict = "met" if t_cls < GOAL_SECONDS else "MISSED"
    print(f"\nGoal: classify under {GOAL_SECONDS:.0f} s — {verdict} ({t_cls:.2f} s).")


if __name__ == "__main__":
    main()
