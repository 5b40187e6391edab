"""Shared fixtures: a configuration in a temporary folder, the bundled samples, a CLI runner."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
AIR_DAY1 = SAMPLES / "air" / "china_sites_20190101.csv"
AIR_DAY2 = SAMPLES / "air" / "china_sites_20190102.csv"
# The same two days cut to 44 stations (Ningbo's and Hangzhou's, and 24 others): for tests about
# collection and storage, where the whole nation only costs time (tests/data/README.md).
SLIM_DAY1 = ROOT / "tests" / "data" / "china_sites_20190101_slim.csv"
SLIM_DAY2 = ROOT / "tests" / "data" / "china_sites_20190102_slim.csv"


def write_config(folder: Path, text: str | None = None) -> Path:
    """stations.yaml copied into `folder`, its store and station list pointing to absolute paths."""
    text = text if text is not None else (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^store: .*$", f"store: {folder / 'envwatch.db'}", text)
    text = text.replace("station_list: data/", f"station_list: {ROOT}/data/")
    p = folder / "stations.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "envwatch.db"


@pytest.fixture
def envwatch(config_path: Path) -> Callable[..., Result]:
    """Run the envwatch command line in-process with the test configuration."""
    from envwatch.cli import main

    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(main, ["--config", str(config_path), *args], catch_exceptions=False)

    return run
