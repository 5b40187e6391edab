"""Seeded synthetic `china_sites_YYYYMMDD.csv` days for benchmarks, shaped like the real ones.

    .venv/bin/python benchmarks/synth.py OUT_DIR --start 2025-01-01 --days 30 [--seed 1]

Every day has the real files' layout: the 1,605 station columns of the bundled samples, 24
hours, the 15 `type` rows. Values are drawn to match the real samples:

- each station's hourly PM2.5, PM10, SO2, NO2, CO and O3 follow the station's own level in the
  samples (its median over the two real days), scaled by a lognormal day factor (AR(1) over
  days, so polluted episodes last), a season (PM, SO2, NO2, CO high in winter, O3 in summer)
  and the diurnal shape of the real data (hourly medians across stations), with lognormal
  hour-to-hour noise;
- the 24-h columns are running 24-h means of the generated hours, O3_24h the running maximum,
  O3_8h the running 8-h mean and O3_8h_24h its daily running maximum, as the feed has them;
- the AQI row is computed from the generated hours by envwatch's HJ 633 code (a generated file
  behaves like a real one: published and computed AQI agree);
- cells are missing at the rate each station misses in the samples, and one cell in 100,000 is
  a bad cell (``—``, ``NA``, ``-1``) so the rejection path is exercised.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envwatch.standards.aqi import hourly_aqi  # noqa: E402

SAMPLES = ROOT / "data" / "samples" / "air"
POLLUTANTS = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")
TYPES = [
    "AQI",
    "PM2.5",
    "PM2.5_24h",
    "PM10",
    "PM10_24h",
    "SO2",
    "SO2_24h",
    "NO2",
    "NO2_24h",
    "O3",
    "O3_24h",
    "O3_8h",
    "O3_8h_24h",
    "CO",
    "CO_24h",
]
# amplitude of the yearly cycle (peak in January for +, July for -)
SEASON = {"PM2.5": 0.45, "PM10": 0.35, "SO2": 0.35, "NO2": 0.25, "CO": 0.25, "O3": -0.45}


class Generator:
    """Learns the samples once, then writes any number of days."""

    def __init__(self, seed: int = 20261122) -> None:
        self.rng = np.random.default_rng(seed)
        frames = [
            pd.read_csv(p, dtype=str, keep_default_na=False)
            for p in sorted(SAMPLES.glob("china_sites_*.csv"))
        ]
        raw = pd.concat(frames, ignore_index=True)
        self.stations = list(frames[0].columns[3:])
        self.level: dict[str, np.ndarray] = {}
        self.diurnal: dict[str, np.ndarray] = {}
        self.missing: dict[str, np.ndarray] = {}
        for t in POLLUTANTS:
            rows = raw[raw["type"] == t]
            values = rows[self.stations].replace("", np.nan).apply(pd.to_numeric, errors="coerce")
            level = values.median().to_numpy(dtype=float)
            fallback = np.nanmedian(level)
            self.level[t] = np.where(np.isfinite(level), level, fallback)
            hours = rows["hour"].astype(int).to_numpy()
            by_hour = values.div(self.level[t], axis=1).groupby(hours).median().median(axis=1)
            shape = by_hour.reindex(range(24)).to_numpy(dtype=float)
            shape = np.where(np.isfinite(shape), shape, 1.0)
            self.diurnal[t] = shape / shape.mean()
            self.missing[t] = values.isna().mean().to_numpy(dtype=float)
        self.day_factor = np.zeros(len(self.stations))
        self.prev: dict[str, np.ndarray] = {}

    def day(self, d: date) -> str:
        """The CSV text of day `d`."""
        n = len(self.stations)
        # AR(1) over days: episodes last a few days
        self.day_factor = 0.7 * self.day_factor + self.rng.normal(0, 0.35, n)
        phase = np.cos(2 * np.pi * (d.timetuple().tm_yday - 15) / 365.25)
        hourly: dict[str, np.ndarray] = {}
        for t in POLLUTANTS:
            season = np.exp(SEASON[t] * phase)
            factor = np.exp(self.day_factor * (0.4 if t == "O3" else 1.0))
            base = self.level[t][None, :] * season * factor[None, :] * self.diurnal[t][:, None]
            noise = self.rng.lognormal(0.0, 0.2, (24, n))
            v = base * noise
            v = np.round(v, 1) if t == "CO" else np.round(v)
            gone = self.rng.random((24, n)) < self.missing[t][None, :]
            hourly[t] = np.where(gone, np.nan, v)
        rows: dict[str, np.ndarray] = {}
        for t in POLLUTANTS:
            cur = hourly[t]
            window = np.vstack([self.prev.get(t, np.full((0, n), np.nan)), cur])[-(24 + 23) :]
            series = pd.DataFrame(window)
            mean24 = series.rolling(24, min_periods=1).mean().to_numpy()[-24:]
            rows[t] = cur
            if t == "O3":
                rows["O3_24h"] = series.rolling(24, min_periods=1).max().to_numpy()[-24:]
                r8 = pd.DataFrame(cur).rolling(8, min_periods=1).mean().to_numpy()
                rows["O3_8h"] = np.round(r8)
                rows["O3_8h_24h"] = np.fmax.accumulate(np.nan_to_num(r8, nan=-1), axis=0)
                rows["O3_8h_24h"] = np.where(
                    rows["O3_8h_24h"] < 0, np.nan, np.round(rows["O3_8h_24h"])
                )
            else:
                rows[f"{t}_24h"] = np.round(mean24, 1 if t == "CO" else 0)
            self.prev[t] = window
        conc = pd.DataFrame(
            {
                "pm25": hourly["PM2.5"].ravel(),
                "pm10": hourly["PM10"].ravel(),
                "so2": hourly["SO2"].ravel(),
                "no2": hourly["NO2"].ravel(),
                "co": hourly["CO"].ravel(),
                "o3": hourly["O3"].ravel(),
            }
        )
        aqi = hourly_aqi(conc, "2012" if d < date(2026, 3, 1) else "2026")["aqi"]
        rows["AQI"] = aqi.to_numpy(dtype="float64", na_value=np.nan).reshape(24, n)
        lines = ["date,hour,type," + ",".join(self.stations)]
        stamp = f"{d:%Y%m%d}"
        for h in range(24):
            for t in TYPES:
                vals = rows[t][h]
                text = np.where(
                    np.isnan(vals),
                    "",
                    np.char.mod("%.1f" if t.startswith("CO") else "%.0f", np.nan_to_num(vals)),
                )
                bad = self.rng.random(n) < 1e-5
                if bad.any():
                    text = text.astype(object)
                    text[bad] = self.rng.choice(["—", "NA", "-1"], size=int(bad.sum()))
                lines.append(f"{stamp},{h},{t}," + ",".join(text.tolist()))
        return "\n".join(lines) + "\n"


def make_days(out: Path, start: date, n_days: int, seed: int = 20261122) -> list[Path]:
    """Write `n_days` files from `start` into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    gen = Generator(seed)
    paths = []
    for k in range(n_days):
        d = start + timedelta(days=k)
        p = out / f"china_sites_{d:%Y%m%d}.csv"
        p.write_text(gen.day(d))
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("out", type=Path)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--seed", type=int, default=20261122)
    args = ap.parse_args()
    for p in make_days(args.out, args.start, args.days, args.seed):
        print(p)


if __name__ == "__main__":
    main()
