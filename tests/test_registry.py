"""The source registry: one entry per kind, and a new kind needs nothing but its entry and reader."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from envwatch import config
from envwatch.config import load_config
from envwatch.pipeline import ingest
from envwatch.sources import registry
from envwatch.sources.base import Reading, Reject, empty_observations

from conftest import ROOT, write_config


def read_dummy(data: bytes, *, name: str, tz: str, now: datetime) -> Reading:
    """A tiny reader: lines ``SITE,YYYY-MM-DD HH:MM,PM2.5``, local hour-ending times."""
    rows, rejects = [], []
    for i, line in enumerate(data.decode().splitlines(), start=1):
        site, when, value = line.split(",")
        try:
            v = float(value)
        except ValueError:
            rejects.append(Reject(f"line {i}", f"'{value}' is not a number", site_id=site))
            continue
        end = pd.Timestamp(when).tz_localize(tz).tz_convert("UTC")
        rows.append((site, "pm25", "1h", end, v, "µg/m³", "", f"line {i}"))
    obs = pd.DataFrame(
        rows,
        columns=[
            "site_id",
            "parameter",
            "averaging",
            "period_end",
            "value",
            "unit",
            "flag",
            "location",
        ],
    )
    if obs.empty:
        obs = empty_observations()
    obs["period_end"] = pd.to_datetime(obs["period_end"], utc=True)
    sites = pd.DataFrame({"site_id": obs["site_id"].unique(), "name": "dummy"})
    return Reading(obs, rejects, sites)


@pytest.fixture
def dummy_kind() -> Iterator[str]:
    entry = registry.SourceKind(
        "dummy-air",
        ("*.txt",),
        registry.Fetch.DROP_FOLDER,
        f"{__name__}:read_dummy",
        site_kind="air",
        staff_sheet=True,
    )
    registry.register(entry)
    yield entry.kind
    del registry.KINDS[entry.kind]


def test_a_new_kind_is_its_registry_entry_and_its_reader(tmp_path: Path, dummy_kind: str) -> None:
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = text.replace("sources:\n", "sources:\n  - {name: dummy, kind: dummy-air}\n", 1)
    loaded = load_config(write_config(tmp_path, text))
    sheet = tmp_path / "one.txt"
    sheet.write_text("1236A,2019-01-01 10:00,35\n1236A,2019-01-01 11:00,x\n", encoding="utf-8")
    result = ingest(loaded, "dummy", files=[sheet])
    assert (result.status, result.new, result.rejected) == ("partial", 1, 1)
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        hour = c.execute("select time_local, pm25, aqi from air_hourly").fetchall()
        reject = c.execute("select location, reason from rejects").fetchone()
    assert hour == [("2019-01-01 10:00", 35.0, 50)]  # derived like any air source
    assert reject == ("line 2", "'x' is not a number")


def test_future_values_of_a_new_kind_are_rejected_by_the_line_it_names(
    tmp_path: Path, dummy_kind: str
) -> None:
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = text.replace("sources:\n", "sources:\n  - {name: dummy, kind: dummy-air}\n", 1)
    loaded = load_config(write_config(tmp_path, text))
    sheet = tmp_path / "one.txt"
    sheet.write_text("1236A,2019-01-01 10:00,35\n1236A,2099-01-01 10:00,35\n", encoding="utf-8")
    result = ingest(loaded, "dummy", files=[sheet])
    assert (result.new, result.rejected) == (1, 1)
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        location, reason = c.execute("select location, reason from rejects").fetchone()
    assert location == "line 2" and "after now + 1 h" in reason


def test_config_accepts_the_registered_kinds_and_suggests_for_typos(tmp_path: Path) -> None:
    assert tuple(registry.KINDS) == config.SOURCE_KINDS
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = text.replace("kind: lab-sheet", "kind: lab-shet")
    with pytest.raises(config.ConfigError, match="did you mean 'lab-sheet'"):
        load_config(write_config(tmp_path, text))


def test_pipeline_names_no_source_kind() -> None:
    names = [re.escape(k) for k in registry.KINDS]
    pattern = re.compile("|".join(names))
    for path in [ROOT / "envwatch" / "pipeline.py", *(ROOT / "envwatch" / "ingest").glob("*.py")]:
        found = pattern.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name} names {found}: ask the registry instead"


def test_every_entry_resolves_its_reader_and_helpers() -> None:
    for entry in registry.KINDS.values():
        assert callable(registry.resolve(entry.reader)), entry.kind
        for ref in (entry.day_file, entry.station_list, entry.fetcher, entry.form):
            if ref is not None:
                assert callable(registry.resolve(ref)), (entry.kind, ref)
        if entry.register is not None:
            assert entry.register.key in registry.resolve(entry.register.columns)
        assert entry.windowed == (entry.fetch is registry.Fetch.DAY_FILE)
        assert entry.staff_sheet == (entry.fetch is registry.Fetch.DROP_FOLDER)


def test_importing_the_config_loads_no_reader() -> None:
    import subprocess
    import sys

    code = (
        "import sys, envwatch.config\n"
        "print(sorted(m for m in sys.modules if m.startswith('envwatch.sources.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "['envwatch.sources.registry']"
