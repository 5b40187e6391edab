"""Soak test: 1,000 scheduled-style runs against a local server that misbehaves on purpose.

    .venv/bin/python benchmarks/bench_soak.py [--runs 1000] [--seed 7] [--quick]

A real HTTP server on 127.0.0.1 serves `china_sites_YYYYMMDD.csv` days (Ningbo's stations, real
sample values) and, by a seeded random draw per request, answers 503, 429 with Retry-After,
drops the connection, cuts the body short, stalls past the read timeout, or sends an HTML error
page instead of the file; now and then a day's values are revised. "Today" moves on one day
every ten runs, so each run fetches its window from the ledger as the daily cron would.

Afterwards it checks that the store holds exactly the latest version of every day the server
served in full, with no duplicates, and that every fault the server injected is in the ledger
(the HTTP faults in `runs.faults`, the HTML pages as failed payloads).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from envwatch.config import load_config  # noqa: E402
from envwatch.pipeline import ingest, normalise  # noqa: E402
from envwatch.sources import cnemc_air_archive  # noqa: E402

from conftest import write_config  # noqa: E402
from faultserver import FaultServer, Recorded, Reply  # noqa: E402

NINGBO = ["1234A", "1235A", "1236A", "1237A", "1238A", "1239A", "1240A", "1241A", "2871A"]
SAMPLE = ROOT / "data" / "samples" / "air" / "china_sites_20190101.csv"
FAULTS = ("503", "429", "drop", "truncate", "stall", "html")


def small_day() -> list[list[str]]:
    lines = SAMPLE.read_text().splitlines()
    header = lines[0].split(",")
    idx = [0, 1, 2] + [header.index(s) for s in NINGBO]
    return [[row.split(",")[i] for i in idx] for row in lines]


class Feed:
    """The server side: versions of each day, the faults it injected, what it served in full."""

    def __init__(self, seed: int, fault_rate: float) -> None:
        self.rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.template = small_day()
        self.version: dict[date, int] = {}
        self.injected: Counter[str] = Counter()
        self.served: dict[date, int] = {}  # day -> version last served in full
        self.lock = threading.Lock()

    def body(self, day: date, version: int) -> bytes:
        rows = [self.template[0]]
        for r in self.template[1:]:
            cells = [f"{day:%Y%m%d}", r[1], r[2]]
            for v in r[3:]:
                cells.append(v if v == "" or version == 0 else str(int(float(v)) + version))
            rows.append(cells)
        return ("\n".join(",".join(c) for c in rows) + "\n").encode()

    def reply(self, req: Recorded) -> Reply:
        day = date.fromisoformat(f"{req.path[-12:-8]}-{req.path[-8:-6]}-{req.path[-6:-4]}")
        with self.lock:
            version = self.version.setdefault(day, 0)
            if self.rng.random() < 0.02:  # a late revision of the day's values
                version = self.version[day] = version + 1
            body = self.body(day, version)
            if self.rng.random() < self.fault_rate:
                fault = self.rng.choice(FAULTS)
                self.injected[fault] += 1
                if fault == "503":
                    return Reply(503, body=b"busy")
                if fault == "429":
                    return Reply(429, headers={"Retry-After": "0"}, body=b"slow down")
                if fault == "drop":
                    return Reply(drop=True)
                if fault == "truncate":
                    return Reply(200, body=body, truncate=len(body) // 3)
                if fault == "stall":
                    return Reply(200, body=body, delay=0.6)
                return Reply(200, body=b"<html><body>502 Bad Gateway</body></html>")
            self.served[day] = version
            return Reply(200, body=body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--fault-rate", type=float, default=0.25)
    ap.add_argument("--quick", action="store_true", help="100 runs")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    runs = 100 if args.quick else args.runs
    feed = Feed(args.seed, args.fault_rate)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d, FaultServer() as server:
        tmp = Path(d)
        cfg_path = write_config(tmp)
        text = cfg_path.read_text(encoding="utf-8").replace(
            "https://quotsoft.net/air/data/china_sites_{date:%Y%m%d}.csv",
            server.url("/air/china_sites_{date:%Y%m%d}.csv"),
        )
        # retries are part of what is tested; no sleeping between them in a soak test
        text = text.replace(
            "lookback: 2d ",
            "lookback: 2d\n    http: {retries: 2, backoff_base: 0.001, backoff_max: 0.002, "
            "read_timeout: 0.3}\n    # ",
        )
        cfg_path.write_text(text, encoding="utf-8")
        loaded = load_config(cfg_path)
        start = date(2026, 1, 1)
        for day in (start + timedelta(days=i) for i in range(-5, runs // 10 + 2)):
            server.script(f"/air/china_sites_{day:%Y%m%d}.csv", then=feed.reply)
        statuses: Counter[str] = Counter()
        for i in range(runs):
            result = ingest(loaded, "cnemc-air-archive", today=start + timedelta(days=i // 10))
            statuses[result.status] += 1
        # a last quiet run so that every day ends with its latest version fetched
        feed.fault_rate = 0.0
        for _ in range(3):
            ingest(loaded, "cnemc-air-archive", today=start + timedelta(days=(runs - 1) // 10))
        elapsed = time.perf_counter() - t0
        with sqlite3.connect(tmp / "envwatch.db") as c:
            ledger = [
                json.loads(f)
                for (f,) in c.execute("select faults from runs where faults is not null")
            ]
            html_failed = c.execute(
                "select count(*) from run_payloads where status = 'failed' and error like '%HTML%'"
            ).fetchone()[0]
            stored = c.execute(
                "select count(*), count(distinct site_id || parameter || averaging || period_end) "
                "from observations"
            ).fetchone()
            mismatched = 0
            for day, version in feed.served.items():
                want, _ = normalise(cnemc_air_archive.read(feed.body(day, version), name="x"))
                got = pd.read_sql_query(
                    "select site_id, parameter, averaging, period_end, value from observations "
                    "where period_end between ? and ?",
                    c,
                    params=(int(want["period_end"].min()), int(want["period_end"].max())),
                )
                both = want.merge(
                    got, on=["site_id", "parameter", "averaging", "period_end"], how="left"
                )
                mismatched += int(not (both["value_x"] == both["value_y"]).all())
    http_faults: Counter[str] = Counter()
    for f in ledger:
        http_faults.update(f.get("failures", {}))
    in_ledger = sum(http_faults.values())
    injected_http = sum(v for k, v in feed.injected.items() if k != "html")
    print("## Soak test (issue 5)\n")
    print("| measure | result |\n|---|---|")
    print(f"| runs | {runs} (+3 quiet runs), seed {args.seed}, fault rate {args.fault_rate:.0%} |")
    print(f"| run statuses | {dict(statuses)} |")
    print(f"| faults injected by the server | {dict(feed.injected)} |")
    print(
        f"| HTTP faults recorded in the ledger (`runs.faults`) | {in_ledger} of {injected_http} ({dict(http_faults)}) |"
    )
    print(f"| HTML pages recorded as failed payloads | {html_failed} of {feed.injected['html']} |")
    print(
        f"| values stored / distinct keys | {stored[0]:,} / {stored[1]:,} (no duplicates: {stored[0] == stored[1]}) |"
    )
    print(
        f"| days whose stored values differ from the last version served | {mismatched} of {len(feed.served)} |"
    )
    print(f"| time | {elapsed:.0f} s ({elapsed / runs * 1000:.0f} ms a run) |")
    # each injected fault must be in the ledger under its cause; a timeout the client saw on a
    # slow but unstalled answer (a loaded machine) is recorded too, and counted apart
    expected = {
        "http_503": feed.injected["503"],
        "http_429": feed.injected["429"],
        "read_timeout": feed.injected["stall"],
        "protocol_error": feed.injected["drop"] + feed.injected["truncate"],
    }
    every_fault = all(http_faults[k] >= v for k, v in expected.items())
    extra = sum(http_faults.values()) - sum(expected.values())
    print(f"| faults the client saw beyond those injected (slow answers timing out) | {extra} |")
    ok = every_fault and html_failed == feed.injected["html"] and stored[0] == stored[1]
    print(f"| **all checks** | **{'pass' if ok and mismatched == 0 else 'FAIL'}** |")


if __name__ == "__main__":
    main()
