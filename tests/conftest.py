"""Shared fixtures: a configuration in a temporary folder, the bundled samples, a CLI runner, and
the stores built once per session (demo, weekly report, month) that tests read or copy."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

if TYPE_CHECKING:
    from demo import Demo

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


def copy_store(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite store `source` at `target` (SQLite's backup: far cheaper
    than ingesting the same data again)."""
    import sqlite3

    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


# -- stores shared by the test modules: built once per session; tests only read them ----------


@pytest.fixture(scope="session")
def report_stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The weekly report's stores (test_report.build_store), as config paths: `full` (air and a
    lab sheet), `air_only`, `hostile` (names with HTML and JavaScript, the example sheets too)
    and `demo` (what `make demo` loads). Tests write their pages elsewhere or under maps/."""
    from test_report import build_store

    base = tmp_path_factory.mktemp("report")
    return {
        "full": build_store(base / "full"),
        "air_only": build_store(base / "air_only", water=False),
        "hostile": build_store(base / "hostile", hostile=True, zero=True),
        "demo": build_store(base / "demo", water=False, zero=True),
    }


@pytest.fixture(scope="session")
def month_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shifted real month of 宁波's stations (test_report_periods.build_month_store)."""
    from test_report_periods import build_month_store

    return build_month_store(tmp_path_factory.mktemp("month"))


@pytest.fixture(scope="session")
def hostile_month_store(tmp_path_factory: pytest.TempPathFactory, month_store: Path) -> Path:
    """`month_store` copied, with 万里学院 renamed with HTML and JavaScript in stations.yaml."""
    from test_report_periods import build_month_store

    return build_month_store(
        tmp_path_factory.mktemp("month-hostile"), hostile=True, like=month_store
    )


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo store of tests/demo.py (the bundled samples); tests read it or `demo_copy` it."""
    from demo import build_demo

    return build_demo(tmp_path_factory.mktemp("demo"))
