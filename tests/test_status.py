"""`envwatch status` tells a killed run from a running one, and a store that cannot be opened
says why (issue 15, item 10)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envwatch.config import load_config
from envwatch.status import source_status, still_running
from envwatch.store import Store

from conftest import write_config
from faultserver import FaultServer, Reply

ENVWATCH = Path(sys.executable).parent / "envwatch"


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _ledger_says_running(db: Path, pid: int) -> None:
    with Store.open(db) as store:
        run = store.start_run("cnemc-air-archive", "cnemc-air-archive")
        store.conn.execute("UPDATE run_ledger SET pid = ? WHERE id = ?", (pid, run))


def _status_of(config: Path, db: Path) -> tuple[str, str]:
    df = source_status(load_config(config), db).set_index("source")
    row = df.loc["cnemc-air-archive"]
    return str(row["status"]), str(row["problem"])


def test_a_run_whose_process_is_gone_is_interrupted_not_running(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    db = tmp_path / "envwatch.db"
    _ledger_says_running(db, _dead_pid())
    status, problem = _status_of(config, db)
    assert status == "interrupted"
    assert "stopped before it finished" in problem and "next run" in problem


def test_a_run_holding_the_lock_is_running(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    db = tmp_path / "envwatch.db"
    _ledger_says_running(db, os.getpid())
    with Store.open(db) as store, store.writer_lock(timeout=1):
        assert _status_of(config, db)[0] == "running"
    # the same pid without the lock: the run ended without closing its row (pid reused)
    assert _status_of(config, db)[0] == "interrupted"
    assert not still_running(db, None)


@pytest.mark.slow
def test_status_after_kill_9_in_the_middle_of_a_fetch(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    db = tmp_path / "envwatch.db"
    with FaultServer() as server:
        server.script("/china_sites_20261101.csv", Reply(200, body=b"", delay=120))  # hangs
        proc = subprocess.Popen(
            [str(ENVWATCH), "--config", str(config), "ingest", "cnemc-air-archive",
             "--url", server.url("/china_sites_{date:%Y%m%d}.csv"),
             "--since", "2026-11-01", "--until", "2026-11-01"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not server.requests and time.monotonic() < deadline:
                time.sleep(0.1)
            assert server.requests, "the ingest never fetched"
            assert _status_of(config, db)[0] == "running"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            proc.kill()
    assert _status_of(config, db)[0] == "interrupted"


@pytest.mark.slow
def test_a_store_in_a_read_only_folder_says_so(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to drop the right to write anywhere")
    config = write_config(tmp_path)
    folder = tmp_path / "readonly"
    folder.mkdir()
    db = folder / "envwatch.db"
    with Store.open(db) as store:
        store.upsert_sites(
            [{"site_id": "1236A", "name": "龙赛医院", "kind": "air", "origin": "config"}]
        )
    folder.chmod(0o555)
    try:
        for args in (["query", "select count(*) from sites"], ["status"], ["init"]):
            # root without CAP_DAC_OVERRIDE obeys file modes, as any staff account does
            out = subprocess.run(
                [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--",
                 str(ENVWATCH), "--config", str(config), "--db", str(db), *args],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert out.returncode == 2, (args, out.stderr)
            assert "is read-only for this user" in out.stderr, (args, out.stderr)
            assert "not an envwatch store" not in out.stderr and "Traceback" not in out.stderr
    finally:
        folder.chmod(0o755)
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from sites").fetchone()[0] > 0
