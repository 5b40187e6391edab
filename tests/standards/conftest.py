"""Fixtures of the air-standards tests: the CNEMC hourly archive samples, parsed once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "air"
"""CNEMC hourly archive, all national stations, 2019-01-01 and 2019-01-02 (samples/README.md)."""

FEED_TO_CODE = {"PM2.5": "pm25", "PM10": "pm10", "SO2": "so2", "NO2": "no2", "CO": "co", "O3": "o3"}


@pytest.fixture(scope="session")
def archive() -> pd.DataFrame:
    """One row per station-hour: site_id, date, hour, time_local and every `type` as a column.

    The archive's `hour` 0-23 is an hour-ending label: hour 0 of day D+1 is 24:00 of day D.
    """
    files = sorted(SAMPLES.glob("china_sites_*.csv"))
    assert len(files) == 2, f"expected the two sample days in {SAMPLES}"
    wide = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    long = (
        wide.set_index(["date", "hour", "type"])
        .rename_axis(columns="site_id")
        .stack()
        .unstack("type")
        .reset_index()
    )
    long.columns.name = None
    long["time_local"] = pd.to_datetime(long["date"].astype(str)) + pd.to_timedelta(
        long["hour"], unit="h"
    )
    return long
