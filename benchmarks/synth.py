"""Synthetic `china_sites_YYYYMMDD.csv` days for benchmarks, made from the real sample days.

Each synthetic day takes one of the two real sample days, gives it the new date and scales every
value by a random factor per station (seeded), so the data keep the real files' shape: 1,605
station columns, the same missing cells, the same rows per hour.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "air"


def make_days(out: Path, start: date, n_days: int, seed: int = 20261122) -> list[Path]:
    """Write `n_days` files from `start` into `out`; return their paths."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    sources = [(SAMPLES / f"china_sites_2019010{i}.csv").read_text().splitlines() for i in (1, 2)]
    paths = []
    for k in range(n_days):
        day = start + timedelta(days=k)
        lines = sources[k % 2]
        header, body = lines[0], [ln.split(",") for ln in lines[1:]]
        arr = np.array(body, dtype=object)
        arr[:, 0] = f"{day:%Y%m%d}"
        vals = arr[:, 3:]
        empty = vals == ""
        num = np.where(empty, "0", vals).astype(float)
        factor = rng.lognormal(0.0, 0.25, size=num.shape[1])
        scaled = np.rint(num * factor).astype(int).astype(str).astype(object)
        vals = np.where(empty, "", scaled)
        arr[:, 3:] = vals
        text = header + "\n" + "\n".join(",".join(r) for r in arr.tolist()) + "\n"
        p = out / f"china_sites_{day:%Y%m%d}.csv"
        p.write_text(text)
        paths.append(p)
    return paths
