"""The scheduler daemon (`envwatch schedule`): each source's ingest on its cron schedule.

Jobs come from stations.yaml, nowhere else: one job per source with a ``schedule``, id
``ingest:<source name>``, kept in memory only (no pickled job store: the config is the truth
and the run ledger decides what each run fetches). Sources without a schedule are listed in
the log and left to `envwatch ingest`.

Times: a ``schedule`` is a five-field crontab expression (minute hour day month weekday) read
in the config's time zone (``timezone:``, Asia/Shanghai), with crontab's meaning of weekday
numbers, 0 or 7 = Sunday. (APScheduler 3 counts 0 as Monday; `cron_trigger` translates.) A
schedule that restricts both the day of the month and the weekday is refused: crontab runs when
either matches, APScheduler only when both do.

Missed runs: a run may start up to `MISFIRE_GRACE` late (the machine was suspended, the run
before it was still going) and still runs; several missed runs of one source run once
(coalesced). At start-up, a run that fell due within the grace period while the daemon was not
running, and that the ledger shows did not happen, runs at once.

One run at a time (one writer per store): runs are queued on a single worker and each source
has at most one run. By default each run happens in a child process (`ingest_in_child`), so
the daemon stays small between runs (the data libraries and a run's memory go with the child)
and a crash in a run cannot take the daemon down. Each run's summary is logged at INFO on the
logger ``envwatch.schedule``, its problems at WARNING; a run that raises is logged and the
daemon carries on.

Stopping: SIGTERM or Ctrl-C (SIGINT) lets the run in progress finish, then the daemon exits 0.
The same signal again stops the run in progress at once: its open transaction is rolled back
(payloads it finished are kept), the ledger records it as failed (interrupted) and the next run
fetches the rest of its window.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from envwatch.config import LoadedConfig, register_secrets
from envwatch.cron import CRON_HINT, cron_trigger
from envwatch.errors import ConfigError, EnvwatchError
from envwatch.redaction import redact

if TYPE_CHECKING:
    from envwatch.pipeline import RunResult

__all__ = [
    "LOG_FORMAT",
    "MISFIRE_GRACE",
    "EnvwatchScheduler",
    "RunFailed",
    "RunReport",
    "build_scheduler",
    "cron_trigger",
    "ingest_in_child",
    "job_id",
    "next_runs",
    "run_job",
    "run_scheduler",
]

log = logging.getLogger("envwatch.schedule")

MISFIRE_GRACE = timedelta(hours=6)
"""How late a run may start and still run (APScheduler's default is one second)."""

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
"""The log format of a run's child process (the command line's format)."""

ABANDON_TIMEOUT = 60.0
"""Seconds a stopped run's process has to roll back and exit before it is killed."""


class RunFunction(Protocol):
    """What a job runs: `envwatch.pipeline.ingest`'s signature, returning its result."""

    def __call__(
        self, loaded: LoadedConfig, source_name: str, *, db: str | Path | None = ...
    ) -> Any:
        """One ingest of `source_name`; returns an object with source, status, exit_code,
        run_id, problems and summary() (a `pipeline.RunResult`)."""


@dataclass(frozen=True)
class RunReport:
    """What one run did, as the daemon logs it (made from a `pipeline.RunResult`)."""

    source: str
    status: str
    exit_code: int
    run_id: int | None
    summary: str
    problems: tuple[str, ...] = ()

    @classmethod
    def of(cls, result: RunResult | Any) -> RunReport:
        return cls(
            source=str(result.source),
            status=str(result.status),
            exit_code=int(result.exit_code),
            run_id=result.run_id,
            summary=str(result.summary()),
            problems=tuple(str(p) for p in result.problems),
        )


class RunFailed(EnvwatchError):
    """A run ended without a result: it raised, crashed or was stopped (`interrupted`)."""

    def __init__(self, message: str, *, interrupted: bool = False) -> None:
        super().__init__(message)
        self.interrupted = interrupted


class _StopRequested(BaseException):
    """Raised in the main thread by the SIGTERM/SIGINT handler (not an Exception, so that no
    `except Exception` in APScheduler swallows it)."""

    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame


# -- triggers ---------------------------------------------------------------------------------


def job_id(source_name: str) -> str:
    """The fixed id of a source's job, ``ingest:<source name>``."""
    return f"ingest:{source_name}"


def _source_trigger(loaded: LoadedConfig, index: int) -> CronTrigger:
    source = loaded.config.sources[index]
    assert source.schedule is not None
    try:
        return cron_trigger(source.schedule, loaded.tz)
    except ValueError as e:
        line = loaded.line_of("sources", index, "schedule")
        raise ConfigError(
            f"{loaded.path}:{line}: sources[{index}].schedule: {e}; {CRON_HINT} (07:30 every day, "
            f"{loaded.config.timezone})"
        ) from None


def next_runs(loaded: LoadedConfig, *, now: datetime | None = None) -> list[tuple[str, datetime]]:
    """(source name, next run time in the config's time zone) of each scheduled source, soonest
    first. `now` defaults to the current time. Ignores missed runs (see `build_scheduler`)."""
    now = now or datetime.now(loaded.tz)
    out: list[tuple[str, datetime]] = []
    for i, source in enumerate(loaded.config.sources):
        if source.schedule:
            nxt = _source_trigger(loaded, i).get_next_fire_time(None, now)
            if nxt is not None:
                out.append((source.name, nxt.astimezone(loaded.tz)))
    return sorted(out, key=lambda item: item[1])


def _previous_fire(trigger: CronTrigger, now: datetime, within: timedelta) -> datetime | None:
    """The trigger's latest fire time in (now - within, now], if any."""
    found: datetime | None = None
    t = trigger.get_next_fire_time(None, now - within)
    while t is not None and t <= now:
        found = t
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return found


def _last_started(store: Path, source_name: str) -> datetime | None:
    """When the ledger's latest (non-dry) run of the source started; None if unknown.

    Read with plain sqlite3, read-only: the daemon does not load the store's libraries.
    """
    if not store.exists():
        return None
    try:
        con = sqlite3.connect(store.resolve().as_uri() + "?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute(
                "SELECT max(started_at) FROM run_ledger WHERE source = ? AND dry_run = 0",
                (source_name,),
            ).fetchone()
        finally:
            con.close()
        return datetime.fromisoformat(row[0]) if row and row[0] else None
    except (sqlite3.Error, ValueError):
        return None


# -- running one source -----------------------------------------------------------------------


class _Runs:
    """The run in progress, shared by the job function (worker thread) and `serve` (main)."""

    def __init__(self) -> None:
        self.stopping = False
        self.force = False
        self.busy = threading.Lock()
        self.current: str | None = None
        self.isolated = False
        self.child: BaseProcess | None = None

    @contextmanager
    def running(self, source_name: str, *, isolated: bool) -> Iterator[None]:
        """Mark a run in progress; `isolated` when it happens in a child process."""
        with self.busy:
            self.current, self.isolated = source_name, isolated
            try:
                yield
            finally:
                self.current, self.isolated, self.child = None, False, None

    def set_child(self, child: BaseProcess) -> None:
        self.child = child
        if self.force:  # the stop came while the child was starting
            self.abandon()

    def abandon(self) -> bool:
        """Ask the run's child process to stop and roll back; False if the run is in-process.

        A child still starting is stopped as soon as it is known (`set_child`)."""
        if not self.isolated:
            return False
        child = self.child
        if child is not None and child.is_alive():
            child.terminate()  # SIGTERM: the child raises KeyboardInterrupt inside the run
        return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is in progress; False on timeout. Interruptible by signals."""
        if not self.busy.acquire(timeout=-1 if timeout is None else timeout):
            return False
        self.busy.release()
        return True


def _child_main(
    conn: Connection, loaded: LoadedConfig, source_name: str, db: str | None, level: int
) -> None:
    """The run's process: one `pipeline.ingest`, its report sent back over `conn`."""
    # Ctrl-C in a terminal reaches the whole process group: the daemon decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    logging.basicConfig(level=level, format=LOG_FORMAT)
    register_secrets(loaded.config)  # the config came pickled: its secrets are not known here yet
    try:
        from envwatch.pipeline import ingest

        result = ingest(loaded, source_name, db=db)
        conn.send(("ok", RunReport.of(result)))
    except KeyboardInterrupt:
        conn.send(
            (
                "interrupted",
                f"{source_name}: the run was stopped (it records itself as failed, interrupted)",
            )
        )
    except EnvwatchError as e:
        conn.send(("error", str(e)))
        _alerts_after_job(loaded, db)
    except BaseException:
        conn.send(("crash", redact(traceback.format_exc())))
        _alerts_after_job(loaded, db)
    finally:
        conn.close()


def _alerts_after_job(loaded: LoadedConfig, db: str | None) -> None:
    """The alerts pass after a job whose ingest raised (an ingest that returns runs its own):
    a stale source is noticed and undelivered messages are retried even then (issue 18)."""
    try:
        from envwatch.alerts import safe_run

        safe_run(loaded, db=db)
    except Exception:
        log.exception("alerts: not evaluated after the failed run; the next run tries again")


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    # Once only: a second SIGTERM must not interrupt the rollback and the ledger update.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def ingest_in_child(
    loaded: LoadedConfig,
    source_name: str,
    *,
    db: str | Path | None = None,
    started: Callable[[BaseProcess], None] | None = None,
) -> RunReport:
    """`envwatch.pipeline.ingest` in a fresh process; its report.

    The child loads pandas and the rest, runs, and exits, giving its memory back. `started` is
    called with the child process once it runs (to stop it: SIGTERM makes the run roll back and
    record itself as interrupted). Raises `RunFailed` when the run raised, crashed or was
    stopped; the message is the run's own error for staff, or the traceback of a crash.
    """
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    level = logging.getLogger().getEffectiveLevel()
    child = ctx.Process(
        target=_child_main,
        args=(send, loaded, source_name, None if db is None else str(db), level),
        name=f"envwatch-ingest-{source_name}",
    )
    child.start()
    send.close()
    if started is not None:
        started(child)
    try:
        message: tuple[str, Any] | None = receive.recv()
    except EOFError:
        message = None
    finally:
        receive.close()
        child.join()
    if message is None:
        code = child.exitcode
        how = (
            f"killed by {signal.Signals(-code).name}"
            if code is not None and code < 0
            else f"exit status {code}"
        )
        raise RunFailed(
            f"{source_name}: the run's process ended without a result ({how})",
            interrupted=code is not None and code < 0,
        )
    kind, payload = message
    if kind == "ok":
        assert isinstance(payload, RunReport)
        return payload
    if kind == "interrupted":
        raise RunFailed(str(payload), interrupted=True)
    raise RunFailed(str(payload))


def run_job(
    loaded: LoadedConfig,
    source_name: str,
    *,
    db: str | Path | None = None,
    run: RunFunction | None = None,
    runs: _Runs | None = None,
) -> RunReport | None:
    """The scheduled job: one ingest of `source_name`, logged on ``envwatch.schedule``.

    Runs `run` in this process when given (a function like `envwatch.pipeline.ingest`), else
    `ingest_in_child`. Logs the summary at INFO and each problem at WARNING; never raises:
    a run that raises or crashes is logged at ERROR and None is returned.
    """
    runs = runs or _Runs()
    if runs.stopping:
        log.info("%s: not started, the scheduler is stopping", source_name)
        return None
    with runs.running(source_name, isolated=run is None):
        # Logged while the run still counts as in progress, so a stopping daemon logs its
        # outcome before "scheduler stopped".
        log.info("%s: run starting", source_name)
        started = time.monotonic()
        try:
            if run is None:
                report = ingest_in_child(loaded, source_name, db=db, started=runs.set_child)
            else:
                report = RunReport.of(run(loaded, source_name, db=db))
        except RunFailed as e:
            if e.interrupted:
                log.warning(
                    "%s: what it had not finished storing was rolled back (finished days are "
                    "kept) and the next run fetches the rest of its window",
                    e,
                )
            else:
                log.error("%s: the run failed: %s; the next run tries again", source_name, e)
            return None
        except EnvwatchError as e:
            log.error("%s: the run failed: %s; the next run tries again", source_name, e)
            return None
        except Exception:
            log.exception(
                "%s: the run raised an unexpected error; the scheduler carries on and the "
                "next run tries again",
                source_name,
            )
            return None
        head, _, rest = report.summary.partition("\n")
        took = time.monotonic() - started
        log.info("%s (%.1f s)%s", head, took, f"\n{rest}" if rest else "")
        for problem in report.problems:
            log.warning("%s: %s", source_name, problem)
    return report


# -- the scheduler ----------------------------------------------------------------------------


class EnvwatchScheduler(BlockingScheduler):
    """A `BlockingScheduler` that knows its run in progress and stops cleanly (`serve`)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.runs = _Runs()
        self.unscheduled: list[str] = []
        self._raise_on_signal = False

    def serve(self) -> int:
        """Run the jobs until SIGTERM or SIGINT, then let the run in progress finish (or, on a
        second signal, roll it back) and return 0. Call from the main thread."""
        previous = self._install_signal_handlers()
        try:
            try:
                jobs = len(self.get_jobs())
                log.info(
                    "scheduler started (pid %d): %d job(s), times in %s; stop with SIGTERM or "
                    "Ctrl-C",
                    os.getpid(),
                    jobs,
                    self.timezone,
                )
                self.start()
            except _StopRequested as stop:
                log.info("%s received: stopping", stop.signame)
            self.runs.stopping = True
            while True:
                try:
                    if self.state != STATE_STOPPED:
                        self.shutdown(wait=False)
                    self._finish_run_in_progress()
                    break
                except _StopRequested as stop:
                    self.runs.force = True
                    log.warning("%s received again: stopping the run in progress", stop.signame)
        finally:
            self._raise_on_signal = False
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        log.info("scheduler stopped")
        return 0

    def _finish_run_in_progress(self) -> None:
        runs = self.runs
        if runs.force and runs.current is not None:
            if not runs.abandon():
                log.warning(
                    "%s: the run in progress runs inside this process and cannot be stopped "
                    "on its own: exiting now; SQLite rolls back its open transaction and the "
                    "next run marks it interrupted",
                    runs.current,
                )
                logging.shutdown()
                os._exit(0)
            if not runs.wait_idle(timeout=ABANDON_TIMEOUT):
                child = runs.child
                if child is not None and child.is_alive():
                    log.error(
                        "the run's process did not stop in %.0f s: killing it", ABANDON_TIMEOUT
                    )
                    child.kill()
                runs.wait_idle(timeout=10)
            return
        if runs.current is not None:
            log.info(
                "waiting for the run of %s to finish; send the signal again (Ctrl-C) to stop it "
                "at once, rolling it back",
                runs.current,
            )
        runs.wait_idle()

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        self._raise_on_signal = True
        previous: dict[int, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.runs.stopping:
            self.runs.force = True
        self.runs.stopping = True
        if self._raise_on_signal:
            raise _StopRequested(name)


def build_scheduler(
    loaded: LoadedConfig,
    *,
    db: str | Path | None = None,
    run: RunFunction | None = None,
    run_now: bool = False,
    catch_up: bool = True,
    now: datetime | None = None,
) -> EnvwatchScheduler:
    """A scheduler with one job per scheduled source of the config (not started).

    Jobs: id ``ingest:<source>``, `cron_trigger` of the source's schedule in the config's time
    zone, misfire grace `MISFIRE_GRACE`, coalesced, at most one instance, memory job store,
    one worker thread. `run` replaces the default `ingest_in_child` (runs then happen in this
    process). `run_now` runs every scheduled source once at start. `catch_up`: a run that fell
    due within the grace period before `now` (default: the current time) and that the ledger
    of the store (`db` or the config's) does not show runs at start. Raises `ConfigError` for
    a schedule that is not valid crontab.
    """
    tz = loaded.tz
    now = now or datetime.now(tz)
    grace = int(MISFIRE_GRACE.total_seconds())
    scheduler = EnvwatchScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        timezone=tz,
    )
    store = Path(db) if db else loaded.store_path
    for i, source in enumerate(loaded.config.sources):
        if not source.schedule:
            scheduler.unscheduled.append(source.name)
            continue
        trigger = _source_trigger(loaded, i)
        first: datetime | None = None
        if run_now:
            first = now
        elif catch_up:
            due = _previous_fire(trigger, now, MISFIRE_GRACE)
            last = _last_started(store, source.name) if due is not None else None
            if due is not None and (last is None or last < due):
                first = due
                log.info(
                    "%s: its run of %s was missed while the scheduler was not running; it runs now",
                    source.name,
                    due.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                )
        options: dict[str, Any] = {}
        if first is not None:
            options["next_run_time"] = first
        scheduler.add_job(
            run_job,
            trigger,
            args=(loaded, source.name),
            kwargs={"db": db, "run": run, "runs": scheduler.runs},
            id=job_id(source.name),
            name=f"ingest {source.name}",
            replace_existing=True,
            misfire_grace_time=grace,
            coalesce=True,
            max_instances=1,
            **options,
        )
        nxt = first or trigger.get_next_fire_time(None, now)
        log.info(
            "%s: schedule '%s' (%s), next run %s",
            source.name,
            source.schedule,
            loaded.config.timezone,
            "now" if first else nxt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if nxt else "never",
        )
    _add_report_jobs(scheduler, loaded, db, now)
    if scheduler.unscheduled:
        log.info(
            "not scheduled (no `schedule:` in %s; run them with `envwatch ingest`): %s",
            loaded.path.name,
            ", ".join(scheduler.unscheduled),
        )
    if not scheduler.get_jobs():
        log.warning(
            "no source in %s has a schedule: the scheduler has nothing to do; add e.g. "
            '`schedule: "30 7 * * *"` to a source',
            loaded.path,
        )
    return scheduler


def report_job_id(index: int, period: str) -> str:
    """The scheduler's id of the report job `index` of stations.yaml: ``report:month:0``."""
    return f"report:{period}:{index}"


def run_report(
    loaded: LoadedConfig,
    index: int,
    *,
    db: str | Path | None = None,
    runs: _Runs | None = None,
    now: datetime | None = None,
) -> list[Path]:
    """The scheduled report job `index` of ``reports:``: the last complete week, month or year
    at `now` (default: the current time), written under the job's `out`, and its PDF when
    `pdf`. Logged on ``envwatch.schedule``; never raises: a report that fails (no data for the
    period, no Chromium) is logged at ERROR and what was written is returned."""
    from envwatch.report import write_pdf, write_report

    job = loaded.config.reports[index]
    name = f"report {job.period}"
    runs = runs or _Runs()
    if runs.stopping:
        log.info("%s: not started, the scheduler is stopping", name)
        return []
    written: list[Path] = []
    out = loaded.resolve(job.out)
    assert out is not None
    with runs.running(name, isolated=False):
        started = time.monotonic()
        try:
            written.append(
                write_report(loaded, db or loaded.store_path, None, out, kind=job.period, now=now)
            )
            if job.pdf:
                written.append(write_pdf(written[0]))
        except EnvwatchError as e:
            log.error("%s: %s; the next run tries again", name, e)
            return written
        except Exception:
            log.exception("%s: unexpected error; the scheduler carries on", name)
            return written
        took = time.monotonic() - started
        log.info("%s: wrote %s (%.1f s)", name, ", ".join(str(p) for p in written), took)
    return written


def _add_report_jobs(
    scheduler: EnvwatchScheduler, loaded: LoadedConfig, db: str | Path | None, now: datetime
) -> None:
    """One job per entry of ``reports:`` (`run_report`), on its cron schedule; a missed report
    is not caught up (run `envwatch report` by hand)."""
    grace = int(MISFIRE_GRACE.total_seconds())
    for i, job in enumerate(loaded.config.reports):
        try:
            trigger = cron_trigger(job.schedule, loaded.tz)
        except ValueError as e:
            line = loaded.line_of("reports", i, "schedule")
            raise ConfigError(
                f"{loaded.path}:{line}: reports[{i}].schedule: {e}; write five fields, minute "
                f"hour day month weekday, e.g. '0 8 2 * *' (08:00 on the 2nd, "
                f"{loaded.config.timezone})"
            ) from None
        scheduler.add_job(
            run_report,
            trigger,
            args=(loaded, i),
            kwargs={"db": db, "runs": scheduler.runs},
            id=report_job_id(i, job.period),
            name=f"report {job.period}",
            replace_existing=True,
            misfire_grace_time=grace,
            coalesce=True,
            max_instances=1,
        )
        nxt = trigger.get_next_fire_time(None, now)
        log.info(
            "report %s: schedule '%s' (%s), next run %s",
            job.period,
            job.schedule,
            loaded.config.timezone,
            nxt.astimezone(loaded.tz).strftime("%Y-%m-%d %H:%M") if nxt else "never",
        )


def run_scheduler(
    loaded: LoadedConfig, *, db: str | Path | None = None, run_now: bool = False
) -> int:
    """Run the configured sources on their schedules until SIGTERM or Ctrl-C; returns 0.

    The daemon behind `envwatch schedule` (see the module docstring for missed runs, one run
    at a time, and stopping). Logs on ``envwatch.schedule`` at INFO whatever the root level.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    return build_scheduler(loaded, db=db, run_now=run_now).serve()
