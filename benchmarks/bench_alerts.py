"""What evaluating the alert rules adds after a national day's ingest (issue 18). Goal: < 1 s.

    .venv/bin/python benchmarks/bench_alerts.py [--quick]

A real national day (data/samples/air/china_sites_20190102.csv, every station: --all-sites) is
ingested into a temporary store without alerts; then every rule kind is evaluated on it:
hourly AQI and daily category for every station of the store (about 1,500, far more than a
district), water, outfalls, zones, stale sources and failed runs. Messages go to an in-process
stub (no network), so the figure is evaluation and bookkeeping. The pass is timed three times:
the first look (every station's last 72 h), a second pass with nothing new (the cursors), and a
pass after the next day's ingest. --quick changes nothing (one day is already quick).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envwatch.alerts import run_alerts  # noqa: E402
from envwatch.alerts.channels import Outcome  # noqa: E402
from envwatch.config import AlertChannel, AlertRule, Alerts, LoadedConfig, load_config  # noqa: E402
from envwatch.pipeline import ingest  # noqa: E402
from envwatch.store import Store  # noqa: E402

SAMPLES = ROOT / "data" / "samples" / "air"
DAY1 = SAMPLES / "china_sites_20190101.csv"
DAY2 = SAMPLES / "china_sites_20190102.csv"
NOW = datetime(2019, 1, 3, 1, 0, tzinfo=UTC)


def _with_rules(loaded: LoadedConfig, stations: list[str]) -> LoadedConfig:
    duty = AlertChannel(name="duty", kind="webhook", url="http://127.0.0.1:9/x", format="json")
    rules = [
        AlertRule(id="aqi", kind="air_hourly_aqi", threshold=150, sites=stations, notify=["duty"]),
        AlertRule(id="day", kind="air_daily_category", worse_than="良", sites=stations),
        AlertRule(id="water", kind="water_below_target"),
        AlertRule(id="outfall", kind="outfall_violation"),
        AlertRule(id="zone", kind="zone_overdue"),
        AlertRule(id="stale", kind="source_stale", hours=26, sources=["cnemc-air-archive"]),
        AlertRule(id="failed", kind="run_failed", notify=["duty"]),
    ]
    config = loaded.config.model_copy(update={"alerts": Alerts(channels=[duty], rules=rules)})
    return LoadedConfig(config=config, path=loaded.path, lines=loaded.lines)


def _stub(channel: Any, message: Any, **_: Any) -> Outcome:
    return Outcome(True, "ok")


def bench(tmp: Path) -> list[tuple[str, str]]:
    db = tmp / "envwatch.db"
    plain = load_config(ROOT / "stations.yaml")
    t = time.perf_counter()
    result = ingest(plain, "cnemc-air-archive", db=db, files=[DAY1], all_sites=True)
    t_ingest = time.perf_counter() - t
    with Store.readonly(db) as store:
        stations = [
            r[0] for r in store.conn.execute("SELECT site_id FROM sites WHERE kind = 'air'")
        ]
    loaded = _with_rules(plain, stations)
    rows = [("national day ingested (--all-sites)", f"{result.new:,} values, {t_ingest:.1f} s")]
    rows.append(
        ("rules", f"7 kinds; hourly AQI and daily category over {len(stations):,} stations")
    )
    for label, before in (
        ("first pass (last 72 h of every station)", None),
        ("second pass, nothing new", None),
        ("after the next national day's ingest", DAY2),
    ):
        if before is not None:
            ingest(plain, "cnemc-air-archive", db=db, files=[before], all_sites=True)
        t = time.perf_counter()
        out = run_alerts(loaded, db=db, now=NOW, send=_stub)
        spent = time.perf_counter() - t
        rows.append(
            (
                label,
                f"{spent:.2f} s ({len(out.opened)} opened, {len(out.cleared)} cleared, "
                f"{out.sent} messages)",
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        rows = bench(Path(d))
    print("## Alerts after a national day (issue 18)\n")
    print(
        "`.venv/bin/python benchmarks/bench_alerts.py`; goal: evaluating every rule adds < 1 s.\n"
    )
    print("| measure | result |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
