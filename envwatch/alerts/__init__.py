"""Alerts and the closed loop (issue 18): rules watched after every run, one episode per
problem, messages to duty officers, 交办 (acknowledge) and 销号 (close).

- `after_run(loaded, result, db=...)`: called at the end of `envwatch.pipeline.ingest`, after
  the store is closed; evaluates every rule and sends what is due. Never raises and never
  changes the run's exit code: a problem is logged and left for the next run.
- `run_alerts(loaded, db=...)`: the same, for `envwatch schedule` (after each job) and
  `envwatch alerts run`.

Modules: `rules` (what each rule kind finds), `episodes` (the state machine, list/ack/close,
delivery), `channels` (webhook formats and e-mail), `problems` (the report's 问题清单). The
tables behind the ``alerts`` view are in the store's schema (`envwatch.store`, version 8) and
the view is declared in `envwatch.schema`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envwatch.config import LoadedConfig

log = logging.getLogger("envwatch.alerts")

# How long an alert pass waits for another process's pass on the same store, in seconds.
LOCK_TIMEOUT = 120.0


@dataclass
class AlertsRun:
    """What one pass did: episodes opened, repeated and cleared; messages sent and failed."""

    opened: list[int] = field(default_factory=list)
    repeated: list[int] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    waiting: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"alerts: {len(self.opened)} opened, {len(self.repeated)} repeated, "
            f"{len(self.cleared)} cleared; {self.sent} message(s) sent, {self.failed} failed"
            + (f", {self.waiting} waiting for the next run" if self.waiting else "")
        )


def run_alerts(
    loaded: LoadedConfig,
    *,
    db: str | Path | None = None,
    now: datetime | None = None,
    send: Any = None,
) -> AlertsRun:
    """Evaluate every rule on the store, then deliver every queued or failed message.

    Raises on a store problem (the callers after a run catch and log it). `now` (aware) is for
    tests; `send` replaces `channels.send`.
    """
    from filelock import FileLock
    from filelock import Timeout as FileLockTimeout

    from envwatch.alerts import channels, episodes
    from envwatch.pipeline import open_store

    out = AlertsRun()
    store = open_store(loaded, db)
    try:
        lock = FileLock(str(store.path) + ".alerts.lock")
        try:
            lock.acquire(timeout=LOCK_TIMEOUT)
        except FileLockTimeout:
            out.problems.append(
                "alerts: another envwatch process is evaluating alerts; this run's are left "
                "for the next run"
            )
            return out
        try:
            if loaded.config.alerts.rules:
                ev = episodes.evaluate(store.conn, loaded, now=now)
                out.opened, out.repeated, out.cleared = ev.opened, ev.repeated, ev.cleared
                out.problems.extend(ev.errors)
            d = episodes.deliver(
                store.conn,
                loaded,
                now=(lambda: now) if now else (lambda: datetime.now(UTC)),
                send=send or channels.send,
            )
            out.sent, out.failed, out.waiting = d.sent, d.failed, d.waiting
            out.problems.extend(d.errors)
        finally:
            lock.release()
    finally:
        store.close()
    return out


def after_run(loaded: LoadedConfig, result: Any, *, db: str | Path | None = None) -> None:
    """The alerts of an ingest run, in the same process after the store is closed.

    Skipped for a dry run and when no alerts are configured. Logs what it did and every problem
    (never raises: the run's exit code stays the run's own). The result's summary is untouched.
    """
    alerts = loaded.config.alerts
    if getattr(result, "dry_run", False) or not (alerts.rules or alerts.channels):
        return
    safe_run(loaded, db=db)


def safe_run(loaded: LoadedConfig, *, db: str | Path | None = None) -> AlertsRun | None:
    """`run_alerts`, logging instead of raising (after an ingest run, in the scheduler)."""
    try:
        out = run_alerts(loaded, db=db)
    except Exception as e:  # an alert problem must never fail the run
        log.error("alerts: not evaluated (%s: %s); the next run tries again", type(e).__name__, e)
        return None
    if out.opened or out.cleared or out.repeated or out.sent or out.failed:
        log.info("%s", out.summary())
    for problem in out.problems:
        log.warning("%s; the next run tries again", problem)
    return out


__all__ = ["AlertsRun", "after_run", "run_alerts", "safe_run"]
