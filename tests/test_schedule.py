"""The scheduler daemon (issue 5): jobs from stations.yaml, missed runs, one run at a time,
clean stops, and the daemon's memory.

In-process tests use APScheduler itself (a scheduler started in a thread, jobs moved into the
past with `modify_job`); the daemon tests start `envwatch.schedule.run_scheduler` as a real
process, feed it a local HTTP server, and signal it.
"""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.cron import CronTrigger

from envwatch.config import LoadedConfig, load_config
from envwatch.errors import ConfigError, UsageError
from envwatch.schedule import (
    MISFIRE_GRACE,
    EnvwatchScheduler,
    build_scheduler,
    cron_trigger,
    job_id,
    next_runs,
    run_job,
)

from conftest import ROOT, SLIM_DAY1, write_config

TZ = ZoneInfo("Asia/Shanghai")
SOURCES = re.compile(r"(?ms)^sources:\n.*?(?=^targets:)")


def archive_source(name: str, where: str, schedule: str | None = "30 7 * * *") -> str:
    """A `cnemc-air-archive` source; `where` is its ``folder: ...`` or ``url: ...`` line."""
    text = f"  - name: {name}\n    kind: cnemc-air-archive\n    {where}\n    lookback: 2d\n"
    return text + (f'    schedule: "{schedule}"\n' if schedule else "")


def config_text(*sources: str) -> str:
    """stations.yaml with its sources replaced by `sources` (the rest as shipped)."""
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    assert SOURCES.search(text)
    return SOURCES.sub(lambda m: "sources:\n" + "".join(sources) + "\n", text, count=1)


def two_sources(folder: Path) -> str:
    """The archive source plus a second scheduled one and an unscheduled one."""
    return config_text(
        archive_source("cnemc-air-archive", f"folder: {folder}"),
        archive_source("archive-mirror", f"folder: {folder}", "0 0 1 1 *"),
        archive_source("by-hand", f"folder: {folder}", None),
    )


def today_folder(folder: Path) -> Path:
    """`folder` holding the real 2019-01-01 archive file renamed to today (Asia/Shanghai)."""
    folder.mkdir(exist_ok=True)
    today = datetime.now(TZ).date()
    shutil.copy(SLIM_DAY1, folder / f"china_sites_{today:%Y%m%d}.csv")
    return folder


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedConfig:
    return load_config(write_config(tmp_path, two_sources(tmp_path / "files")))


@dataclass
class FakeResult:
    """What `pipeline.ingest` returns, as far as the scheduler looks."""

    source: str
    status: str = "ok"
    run_id: int | None = 1
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "partial": 1}.get(self.status, 2)

    def summary(self) -> str:
        return f"{self.source}: run {self.run_id} {self.status} — fake"


class FakeRun:
    """A `run` function that records its calls (name, start, end) and can be told to fail."""

    def __init__(self, seconds: float = 0.0, fail: dict[str, Exception] | None = None) -> None:
        self.seconds = seconds
        self.fail = fail or {}
        self.calls: list[tuple[str, float, float]] = []
        self.done = threading.Event()
        self.expected = 1

    def __call__(self, loaded: LoadedConfig, source_name: str, *, db: Any = None) -> Any:
        start = time.monotonic()
        try:
            time.sleep(self.seconds)
            if source_name in self.fail:
                raise self.fail[source_name]
            return FakeResult(source_name, problems=["2019-01-02: no file for this day yet"])
        finally:
            self.calls.append((source_name, start, time.monotonic()))
            if len(self.calls) >= self.expected:
                self.done.set()


@contextmanager
def started(scheduler: EnvwatchScheduler) -> Iterator[EnvwatchScheduler]:
    """The scheduler running in a thread, shut down (waiting for its run) on the way out."""
    thread = threading.Thread(target=scheduler.start, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not scheduler.running and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield scheduler
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        thread.join(timeout=5)


# -- jobs from the config ---------------------------------------------------------------------


def test_jobs_are_built_from_the_config(loaded, caplog):
    caplog.set_level("INFO", logger="envwatch.schedule")
    scheduler = build_scheduler(loaded, catch_up=False)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"ingest:cnemc-air-archive", "ingest:archive-mirror"}
    for name, job in ((n, jobs[job_id(n)]) for n in ("cnemc-air-archive", "archive-mirror")):
        assert job.func is run_job
        assert job.args[1] == name
        assert isinstance(job.trigger, CronTrigger)
        assert str(job.trigger.timezone) == "Asia/Shanghai"
        assert job.misfire_grace_time == 6 * 3600 == MISFIRE_GRACE.total_seconds()
        assert job.coalesce is True
        assert job.max_instances == 1
    trigger = jobs["ingest:cnemc-air-archive"].trigger
    fields = {f.name: str(f) for f in trigger.fields}
    assert (fields["hour"], fields["minute"], fields["day_of_week"]) == ("7", "30", "*")
    assert isinstance(scheduler._jobstores["default"], MemoryJobStore)
    executor = scheduler._executors["default"]
    assert isinstance(executor, ThreadPoolExecutor) and executor._pool._max_workers == 1
    assert scheduler.unscheduled == ["by-hand"]
    assert "not scheduled" in caplog.text and "by-hand" in caplog.text


def test_next_runs_in_local_time(loaded):
    now = datetime(2026, 11, 22, 9, 0, tzinfo=TZ)
    assert next_runs(loaded, now=now) == [
        ("cnemc-air-archive", datetime(2026, 11, 23, 7, 30, tzinfo=TZ)),
        ("archive-mirror", datetime(2027, 1, 1, 0, 0, tzinfo=TZ)),
    ]


@pytest.mark.parametrize(
    "expr, first",
    [
        # 2026-11-22 is a Sunday; crontab counts 0 and 7 as Sunday, APScheduler 3 counts 0 as
        # Monday: the translation must keep crontab's meaning.
        ("0 9 * * 0", "2026-11-22 09:00 Sun"),
        ("0 9 * * 7", "2026-11-22 09:00 Sun"),
        ("0 9 * * 1", "2026-11-23 09:00 Mon"),
        ("0 9 * * 1-5", "2026-11-23 09:00 Mon"),
        ("0 9 * * 6", "2026-11-28 09:00 Sat"),
        ("0 9 * * sat", "2026-11-28 09:00 Sat"),
        ("0 8 * * */2", "2026-11-24 08:00 Tue"),  # 0,2,4,6 = Sun Tue Thu Sat; not Mon
        ("*/20 * * * *", "2026-11-22 08:20 Sun"),
    ],
)
def test_weekday_numbers_mean_what_crontab_means(expr, first):
    now = datetime(2026, 11, 22, 8, 1, tzinfo=TZ)
    fire = cron_trigger(expr, TZ).get_next_fire_time(None, now)
    assert fire is not None and fire.strftime("%Y-%m-%d %H:%M %a") == first


@pytest.mark.parametrize(
    "schedule, says",
    [
        ("0 9 1 * 1", "restricts both the day of the month and the weekday"),
        ("61 * * * *", "61"),
        ("0 9 * * 8", "weekday '8'"),
    ],
)
def test_a_bad_schedule_is_a_config_error_naming_file_and_line(tmp_path, schedule, says):
    # Found when the file loads (issue 16), not when the daemon starts.
    path = write_config(tmp_path, config_text(archive_source("a", "folder: .", schedule)))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    good = load_config(write_config(tmp_path, config_text(archive_source("a", "folder: ."))))
    line = good.line_of("sources", 0, "schedule")
    assert str(err.value).startswith(f"{path}:{line}: sources[0].schedule: ")
    assert says in str(err.value) and "e.g. '30 7 * * *'" in str(err.value)


# -- missed runs ------------------------------------------------------------------------------


def _only(scheduler: EnvwatchScheduler, name: str) -> None:
    for job in scheduler.get_jobs():
        if job.id != job_id(name):
            scheduler.remove_job(job.id)


def test_a_run_that_misfired_within_the_grace_period_still_runs(loaded):
    run = FakeRun()
    scheduler = build_scheduler(loaded, run=run, catch_up=False)
    _only(scheduler, "archive-mirror")  # cron 0 0 1 1 *: it never fires by itself here
    two_hours_ago = datetime.now(TZ) - timedelta(hours=2)
    scheduler.modify_job(job_id("archive-mirror"), next_run_time=two_hours_ago)
    missed: list[JobExecutionEvent] = []
    scheduler.add_listener(missed.append, EVENT_JOB_MISSED)
    with started(scheduler):
        assert run.done.wait(5)
    assert [c[0] for c in run.calls] == ["archive-mirror"]
    assert missed == []


def test_without_the_grace_period_apscheduler_would_skip_it(loaded):
    # Guards the test above: APScheduler's default grace of 1 s drops a run 2 hours late.
    run = FakeRun()
    scheduler = build_scheduler(loaded, run=run, catch_up=False)
    _only(scheduler, "archive-mirror")
    scheduler.modify_job(
        job_id("archive-mirror"),
        next_run_time=datetime.now(TZ) - timedelta(hours=2),
        misfire_grace_time=1,
    )
    missed = threading.Event()
    scheduler.add_listener(lambda event: missed.set(), EVENT_JOB_MISSED)
    with started(scheduler):
        assert missed.wait(5)
    assert run.calls == []


def _ledger_row(loaded: LoadedConfig, source: str, started_at: str) -> None:
    from envwatch.pipeline import open_store

    store = open_store(loaded)
    try:
        with store.transaction():
            store.conn.execute(
                "INSERT INTO run_ledger (source, kind, started_at, status) VALUES (?, ?, ?, 'ok')",
                (source, "cnemc-air-archive", started_at),
            )
    finally:
        store.close()


def test_a_run_missed_while_the_daemon_was_down_runs_at_start_unless_the_ledger_has_it(loaded):
    def first_run(now: datetime) -> datetime | None:
        scheduler = build_scheduler(loaded, now=now)
        job = scheduler.get_job(job_id("cnemc-air-archive"))
        return getattr(job, "next_run_time", None)  # set only for a run due at once

    nine = datetime(2026, 11, 22, 9, 0, tzinfo=TZ)
    # daily at 07:30, nothing in the ledger: the 07:30 run is 1.5 h late, within grace
    assert first_run(nine) == datetime(2026, 11, 22, 7, 30, tzinfo=TZ)
    # 7.5 h late: beyond the grace period, wait for tomorrow (the next run's window catches up)
    assert first_run(nine + timedelta(hours=6)) is None
    # the ledger shows the 07:30 run happened (07:30:05 local = 23:30:05 UTC the day before)
    _ledger_row(loaded, "cnemc-air-archive", "2026-11-21T23:30:05Z")
    assert first_run(nine) is None
    # ... but a run of the day before does not count
    assert first_run(nine + timedelta(days=1)) == datetime(2026, 11, 23, 7, 30, tzinfo=TZ)


# -- running jobs -----------------------------------------------------------------------------


def test_one_run_at_a_time_and_a_failing_run_does_not_stop_the_scheduler(loaded, caplog):
    caplog.set_level("INFO", logger="envwatch.schedule")
    run = FakeRun(seconds=0.3, fail={"cnemc-air-archive": RuntimeError("disk on fire")})
    run.expected = 2
    scheduler = build_scheduler(loaded, run=run, run_now=True)
    with started(scheduler):
        assert run.done.wait(5)
        assert scheduler.running
    (a, a_start, a_end), (b, b_start, b_end) = sorted(run.calls, key=lambda c: c[1])
    assert {a, b} == {"cnemc-air-archive", "archive-mirror"}
    assert b_start >= a_end  # one worker: the second waited for the first
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "cnemc-air-archive" in errors[0].getMessage()
    assert errors[0].exc_info is not None  # the traceback is kept for an unexpected error
    infos = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert any(m.startswith("archive-mirror: run 1 ok — fake") for m in infos)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "archive-mirror: 2019-01-02: no file for this day yet" in warnings


def test_an_envwatch_error_is_logged_as_its_message_without_a_traceback(loaded, caplog):
    message = "source 'x' needs the environment variable KEY"
    run = FakeRun(fail={"archive-mirror": UsageError(message)})
    assert run_job(loaded, "archive-mirror", run=run) is None
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert message in record.getMessage() and record.exc_info is None


def test_a_queued_run_does_not_start_once_the_scheduler_is_stopping(loaded, caplog):
    caplog.set_level("INFO", logger="envwatch.schedule")
    run = FakeRun()
    scheduler = build_scheduler(loaded, run=run, catch_up=False)
    scheduler.runs.stopping = True  # what SIGTERM sets
    assert run_job(loaded, "archive-mirror", run=run, runs=scheduler.runs) is None
    assert run.calls == []
    assert "archive-mirror: not started, the scheduler is stopping" in caplog.text


@pytest.mark.slow  # a run in a child process: about 2 s
def test_the_job_function_ingests_a_folder_in_a_child_process(tmp_path, caplog):
    # The real path of a scheduled run: pipeline.ingest in a fresh process, its report logged.
    caplog.set_level("INFO", logger="envwatch.schedule")
    folder = today_folder(tmp_path / "files")
    loaded = load_config(
        write_config(
            tmp_path, config_text(archive_source("cnemc-air-archive", f"folder: {folder}"))
        )
    )
    report = run_job(loaded, "cnemc-air-archive")
    assert report is not None
    assert report.source == "cnemc-air-archive" and report.status in ("ok", "partial")
    assert report.run_id == 1
    summaries = [r.getMessage() for r in caplog.records if "run 1 " in r.getMessage()]
    assert len(summaries) == 1 and summaries[0].startswith("cnemc-air-archive: run 1 ")
    with sqlite3.connect(tmp_path / "envwatch.db") as con:
        new, status = con.execute("SELECT new, status FROM run_ledger").fetchone()
    assert new > 0 and status == report.status


def test_a_job_added_to_run_now_fires_and_ingests(tmp_path):
    from envwatch.pipeline import ingest

    folder = today_folder(tmp_path / "files")
    loaded = load_config(
        write_config(
            tmp_path, config_text(archive_source("cnemc-air-archive", f"folder: {folder}"))
        )
    )
    scheduler = build_scheduler(loaded, run=ingest, run_now=True)
    executed: list[JobExecutionEvent] = []
    done = threading.Event()

    def on_executed(event: JobExecutionEvent) -> None:
        executed.append(event)
        done.set()

    scheduler.add_listener(on_executed, EVENT_JOB_EXECUTED)
    with started(scheduler):
        assert done.wait(20)
    (event,) = executed
    assert event.job_id == "ingest:cnemc-air-archive"
    assert event.retval.status in ("ok", "partial") and event.retval.run_id == 1


# -- the daemon as a process ------------------------------------------------------------------

DAEMON = """
import logging, sys
from envwatch.config import load_config
from envwatch.schedule import LOG_FORMAT, run_scheduler
logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
sys.exit(run_scheduler(load_config(sys.argv[1]), run_now=sys.argv[2] == "now"))
"""


class Daemon:
    """`run_scheduler` in its own process; its log lines collected as they come."""

    def __init__(self, config: Path, *, run_now: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DAEMON, str(config), "now" if run_now else "later"],
            cwd=config.parent,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 15) -> None:
        with self._changed:
            ok = self._changed.wait_for(lambda: text in self.log, timeout=timeout)
        assert ok, f"no {text!r} in the daemon's log:\n{self.log}"

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))  # type: ignore[union-attr]
        return kb / 1024

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started_daemons: list[Daemon] = []
    yield started_daemons
    for daemon in started_daemons:
        daemon.kill()


def test_the_daemon_idles_small_and_exits_0_on_sigterm(tmp_path, daemons):
    # New Year's midnight: no run falls due, none was missed (unless run in the 6 h after it)
    source = archive_source("cnemc-air-archive", f"folder: {tmp_path}", "0 0 1 1 *")
    daemon = Daemon(write_config(tmp_path, config_text(source)))
    daemons.append(daemon)
    daemon.wait_for("scheduler started")
    time.sleep(0.3)
    rss = daemon.rss_mb()
    print(f"idle daemon RSS: {rss:.1f} MB")
    assert rss < 150
    started_at = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=5) == 0
    assert time.monotonic() - started_at < 5
    assert "SIGTERM received: stopping" in daemon.log
    assert daemon.lines[-1].endswith("envwatch.schedule: scheduler stopped")
    assert "cnemc-air-archive: schedule '0 0 1 1 *' (Asia/Shanghai), next run" in daemon.log
    assert "run starting" not in daemon.log


@pytest.fixture
def feed() -> Iterator[Any]:
    from faultserver import FaultServer

    with FaultServer() as server:
        yield server


def _url_config(tmp_path: Path, server: Any) -> Path:
    url = server.url("/china_sites_{date:%Y%m%d}.csv")
    return write_config(tmp_path, config_text(archive_source("cnemc-air-archive", f"url: {url}")))


def _today_path() -> str:
    return f"/china_sites_{datetime.now(TZ):%Y%m%d}.csv"


def _wait_for_request(server: Any, path: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not server.requests_to(path):
        assert time.monotonic() < deadline, f"no request for {path}"
        time.sleep(0.05)


@pytest.mark.slow  # a daemon process and a run held open 1.5 s: about 3 s
def test_sigterm_during_a_run_lets_it_finish_then_exits_0(tmp_path, feed, daemons):
    from faultserver import Reply

    feed.script(_today_path(), Reply(200, body=SLIM_DAY1.read_bytes(), delay=1.5))
    daemon = Daemon(_url_config(tmp_path, feed), run_now=True)
    daemons.append(daemon)
    _wait_for_request(feed, _today_path())  # the run is fetching, in its child process
    rss = daemon.rss_mb()
    print(f"daemon RSS during a run: {rss:.1f} MB")
    assert rss < 150
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0
    log = daemon.log
    order = [
        log.index("cnemc-air-archive: run starting"),
        log.index("SIGTERM received: stopping"),
        log.index("waiting for the run of cnemc-air-archive to finish"),
        log.index("cnemc-air-archive: run 1 "),
        log.index("scheduler stopped"),
    ]
    assert order == sorted(order), log
    with sqlite3.connect(tmp_path / "envwatch.db") as con:
        status, new = con.execute("SELECT status, new FROM run_ledger").fetchone()
    assert status in ("ok", "partial") and new > 0


@pytest.mark.slow  # a daemon process and its run: about 2-3 s
def test_a_second_ctrl_c_rolls_the_run_back_and_exits_0(tmp_path, feed, daemons):
    from faultserver import Reply

    feed.script(_today_path(), Reply(200, body=SLIM_DAY1.read_bytes(), delay=60))
    daemon = Daemon(_url_config(tmp_path, feed), run_now=True)
    daemons.append(daemon)
    _wait_for_request(feed, _today_path())
    daemon.signal(signal.SIGINT)
    daemon.wait_for("waiting for the run of cnemc-air-archive to finish")
    started_at = time.monotonic()
    daemon.signal(signal.SIGINT)
    assert daemon.wait(timeout=15) == 0
    assert time.monotonic() - started_at < 10
    assert "SIGINT received again: stopping the run in progress" in daemon.log
    assert "the run was stopped" in daemon.log and "rolled back" in daemon.log
    assert daemon.lines[-1].endswith("scheduler stopped")
    with sqlite3.connect(tmp_path / "envwatch.db") as con:
        status, error = con.execute("SELECT status, error FROM run_ledger").fetchone()
        stored = con.execute("SELECT count(*) FROM observations").fetchone()[0]
    assert status == "failed" and "interrupted" in error
    assert stored == 0
