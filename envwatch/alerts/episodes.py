"""Alert episodes: open, notify once, clear (已恢复), acknowledge (交办), close (销号).

One episode per (rule, subject) while the condition holds. A finding whose condition was seen
opens an episode when none is current and queues one message per channel of the rule; while it
holds nothing more is sent, unless the rule's `repeat_after` has passed since the last message;
when it no longer holds the episode is cleared and "已恢复" is queued. An episode closed by force
before it cleared stays the current one (silently) until its condition clears.

Messages are queued in ``alert_deliveries`` and sent by `deliver`; a failed one stays queued and
the next run tries it again, so nothing is lost. Times are ISO-8601 UTC text.
"""

from __future__ import annotations

import getpass
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from envwatch.alerts import channels as ch
from envwatch.alerts import rules
from envwatch.config import AlertRule, LoadedConfig
from envwatch.errors import UsageError
from envwatch.http import redact

STATUSES = ("open", "acknowledged", "cleared", "closed")
EVENT_TITLES = {"opened": "告警", "repeat": "告警（持续）", "cleared": "已恢复"}
# At most this many queued messages are tried per run (the rest wait for the next run).
MAX_DELIVERIES = 200


def has_schema(conn: sqlite3.Connection) -> bool:
    """Whether the store has the alert tables (store schema 8; a read-only older store may not)."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alert_episodes'"
    ).fetchone()
    return row is not None


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def all_secrets(loaded: LoadedConfig) -> dict[str, str]:
    """Every secret named in the config (sources and channels) that is set: to redact text."""
    names = {n for s in loaded.config.sources for n in s.secrets}
    names |= {n for c in loaded.config.alerts.channels for n in c.secrets}
    return {n: os.environ[n] for n in names if os.environ.get(n)}


@dataclass
class Evaluation:
    """What one evaluation did: the ids of the alerts opened, repeated and cleared."""

    opened: list[int] = field(default_factory=list)
    repeated: list[int] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def evaluate(
    conn: sqlite3.Connection, loaded: LoadedConfig, *, now: datetime | None = None
) -> Evaluation:
    """Evaluate every rule and update the episodes, in one write transaction."""
    now = now or datetime.now(UTC)
    stamp = iso(now)
    secrets = all_secrets(loaded)
    result = Evaluation()
    cursors = {
        (r, s): m for r, s, m in conn.execute("SELECT rule, subject, mark FROM alert_cursors")
    }
    before = dict(cursors)
    ctx = rules.RuleContext(conn, loaded, now, cursors)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for rule in loaded.config.alerts.rules:
            try:
                findings = rules.evaluate(rule, ctx)
            except sqlite3.Error as e:
                result.errors.append(f"alerts.rules {rule.id}: {e}")
                continue
            for f in findings:
                _apply(conn, rule, f, stamp, now, secrets, result)
                if f.mark is not None:
                    cursors[(rule.id, f.subject)] = f.mark
        changed = [(r, s, m) for (r, s), m in cursors.items() if before.get((r, s)) != m]
        conn.executemany(
            "INSERT INTO alert_cursors (rule, subject, mark) VALUES (?, ?, ?) "
            "ON CONFLICT(rule, subject) DO UPDATE SET mark = excluded.mark",
            changed,
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _apply(
    conn: sqlite3.Connection,
    rule: AlertRule,
    f: rules.Finding,
    stamp: str,
    now: datetime,
    secrets: dict[str, str],
    result: Evaluation,
) -> None:
    detail = redact(f.detail, secrets)
    row = conn.execute(
        "SELECT id, last_notified, closed FROM alert_episodes "
        "WHERE rule = ? AND subject = ? AND cleared IS NULL ORDER BY id DESC LIMIT 1",
        (rule.id, f.subject),
    ).fetchone()
    if row is None and not f.seen:
        return
    if row is None:
        cur = conn.execute(
            "INSERT INTO alert_episodes (rule, kind, subject, subject_name, subject_type, detail, "
            "last_detail, opened, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rule.id,
                rule.kind,
                f.subject,
                f.subject_name,
                f.subject_type,
                detail,
                detail,
                stamp,
                stamp,
            ),
        )
        alert_id = int(cur.lastrowid or 0)
        _step(conn, alert_id, stamp, "opened", "envwatch", detail)
        _queue(conn, rule, alert_id, "opened", stamp)
        result.opened.append(alert_id)
        closed = None
    else:
        alert_id, last_notified, closed = row
        if f.seen:
            conn.execute(
                "UPDATE alert_episodes SET last_seen = ?, last_detail = ? WHERE id = ?",
                (stamp, detail, alert_id),
            )
            repeat = rule.repeat_delta
            if (
                f.holds
                and closed is None
                and repeat is not None
                and last_notified is not None
                and now - _parse(last_notified) >= repeat
            ):
                _step(conn, alert_id, stamp, "repeated", "envwatch", detail)
                _queue(conn, rule, alert_id, "repeat", stamp)
                result.repeated.append(alert_id)
    if not f.holds:
        conn.execute(
            "UPDATE alert_episodes SET cleared = ?, clear_detail = ? WHERE id = ?",
            (stamp, detail, alert_id),
        )
        _step(conn, alert_id, stamp, "cleared", "envwatch", detail)
        if closed is None:
            _queue(conn, rule, alert_id, "cleared", stamp)
        result.cleared.append(alert_id)


def _queue(
    conn: sqlite3.Connection, rule: AlertRule, alert_id: int, event: str, stamp: str
) -> None:
    conn.executemany(
        "INSERT INTO alert_deliveries (alert_id, event, channel, created) VALUES (?, ?, ?, ?)",
        [(alert_id, event, name, stamp) for name in rule.notify],
    )
    if not rule.notify:
        return
    conn.execute("UPDATE alert_episodes SET last_notified = ? WHERE id = ?", (stamp, alert_id))


def _step(
    conn: sqlite3.Connection, alert_id: int, stamp: str, step: str, by: str | None, note: str | None
) -> None:
    conn.execute(
        "INSERT INTO alert_steps (alert_id, at, step, by, note) VALUES (?, ?, ?, ?, ?)",
        (alert_id, stamp, step, by, note),
    )


# -- messages and delivery ------------------------------------------------------------------


def message(
    loaded: LoadedConfig, episode: dict[str, Any], event: str, *, now: datetime
) -> ch.Message:
    """The message of one event of an episode (Chinese text and the JSON envelope)."""
    rule = next((r for r in loaded.config.alerts.rules if r.id == episode["rule"]), None)
    name = rules.label(rule) if rule else rules.LABELS.get(episode["kind"], episode["kind"])
    tz = loaded.tz
    opened_local = f"{_parse(episode['opened']).astimezone(tz):%Y-%m-%d %H:%M}"
    subject = f"{episode['subject_name'] or episode['subject']}"
    if episode["subject_name"] and episode["subject_name"] != episode["subject"]:
        subject += f"（{episode['subject']}）"
    head = f"【envwatch {EVENT_TITLES[event]}】{name}：{subject}"
    if event == "cleared":
        detail = episode["clear_detail"] or episode["detail"]
        cleared_local = f"{_parse(episode['cleared']).astimezone(tz):%Y-%m-%d %H:%M}"
        body = f"{detail}\n告警 #{episode['id']} 自 {opened_local} 起，{cleared_local} 已恢复。"
        body += f'\n销号：envwatch alerts close {episode["id"]} --note "处理情况"'
    else:
        detail = episode["last_detail"] if event == "repeat" else episode["detail"]
        body = (
            f"{detail}\n告警 #{episode['id']}，开始于 {opened_local}。"
            f'\n交办：envwatch alerts ack {episode["id"]} --note "交办说明" --by 姓名'
        )
    text = f"{head}\n{body}"
    data = {
        "envwatch": 1,
        "event": event,
        "id": episode["id"],
        "rule": episode["rule"],
        "rule_label": name,
        "kind": episode["kind"],
        "subject": episode["subject"],
        "subject_name": episode["subject_name"],
        "subject_type": episode["subject_type"],
        "status": _event_status(episode, event),
        "time": iso(now),
        "opened": episode["opened"],
        "cleared": episode["cleared"],
        "detail": detail,
        "text": text,
    }
    return ch.Message(head, text, data)


def _event_status(e: dict[str, Any], event: str) -> str:
    """The status a message announces: open (or acknowledged) for an alert, cleared for 已恢复;
    closed when it was closed meanwhile."""
    if e["closed"]:
        return "closed"
    if event == "cleared":
        return "cleared"
    return "acknowledged" if e["acknowledged"] else "open"


@dataclass
class Delivery:
    """What `deliver` did: messages sent, failed, and left for the next run."""

    sent: int = 0
    failed: int = 0
    waiting: int = 0
    errors: list[str] = field(default_factory=list)


def deliver(
    conn: sqlite3.Connection,
    loaded: LoadedConfig,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    send: Callable[..., ch.Outcome] = ch.send,
) -> Delivery:
    """Send every queued or failed message, oldest first; record each outcome.

    After a channel fails once in this call, its other messages wait for the next run (a dead
    robot must not hold up the run once per message).
    """
    out = Delivery()
    secrets = all_secrets(loaded)
    channels = {c.name: c for c in loaded.config.alerts.channels}
    rows = conn.execute(
        "SELECT d.id, d.event, d.channel, e.* FROM alert_deliveries d "
        "JOIN alert_episodes e ON e.id = d.alert_id "
        "WHERE d.status IN ('pending', 'failed') ORDER BY d.id LIMIT ?",
        (MAX_DELIVERIES,),
    )
    names = [c[0] for c in rows.description]
    queued = [dict(zip(names[3:], r[3:], strict=True)) | {"_d": r[:3]} for r in rows.fetchall()]
    down: set[str] = set()
    for episode in queued:
        delivery_id, event, channel_name = episode.pop("_d")
        channel = channels.get(channel_name)
        if channel is None:  # removed from the config: not retried
            error = f"no channel '{channel_name}' in the config any more; not sent"
            _record(conn, delivery_id, "dropped", now(), error, None)
            out.errors.append(f"alert #{episode['id']}: {error}")
            continue
        if channel_name in down:
            out.waiting += 1
            continue
        outcome = send(channel, message(loaded, episode, event, now=now()))
        answer = redact(outcome.answer, secrets)
        if outcome.ok:
            out.sent += 1
            _record(conn, delivery_id, "ok", now(), None, answer)
        else:
            out.failed += 1
            down.add(channel_name)
            out.errors.append(f"alert #{episode['id']} via {channel_name}: {answer}")
            _record(conn, delivery_id, "failed", now(), answer, None)
    return out


def _record(
    conn: sqlite3.Connection,
    delivery_id: int,
    status: str,
    at: datetime,
    error: str | None,
    response: str | None,
) -> None:
    stamp = iso(at)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "UPDATE alert_deliveries SET status = ?, attempts = attempts + 1, last_try = ?, "
        "error = ?, response = ? WHERE id = ?",
        (status, stamp, error, response, delivery_id),
    )
    alert_id, event, channel = conn.execute(
        "SELECT alert_id, event, channel FROM alert_deliveries WHERE id = ?", (delivery_id,)
    ).fetchone()
    note = f"{channel} {event}: " + ("ok" if status == "ok" else f"{status}: {error}")
    step = {"ok": "notified", "failed": "delivery_failed"}.get(status, f"delivery_{status}")
    _step(conn, alert_id, stamp, step, "envwatch", note)
    conn.execute("COMMIT")


# -- the closed loop: list, ack, close --------------------------------------------------------


def list_alerts(conn: sqlite3.Connection, *, everything: bool = False) -> pd.DataFrame:
    """The ``alerts`` view: everything not closed (or `everything`), newest first."""
    cols = [
        "id", "rule", "kind", "status", "subject", "subject_name", "detail", "opened",
        "last_seen", "notified", "cleared", "acknowledged", "ack_by", "ack_note", "closed",
        "close_note", "channels",
    ]  # fmt: skip
    if not has_schema(conn):
        return pd.DataFrame(columns=cols)
    where = "" if everything else "WHERE status != 'closed'"
    return pd.read_sql_query(f"SELECT {', '.join(cols)} FROM alerts {where} ORDER BY id DESC", conn)


def _episode(conn: sqlite3.Connection, alert_id: int) -> dict[str, Any]:
    if not has_schema(conn):
        raise UsageError(f"no alert #{alert_id}: this store has no alerts yet")
    cur = conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,))
    row = cur.fetchone()
    if row is None:
        raise UsageError(f"no alert #{alert_id}; `envwatch alerts list --all` shows them")
    return dict(zip([c[0] for c in cur.description], row, strict=True))


def default_by() -> str:
    """Who acts, when --by is not given: the login name."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def acknowledge(
    conn: sqlite3.Connection,
    alert_id: int,
    note: str,
    *,
    by: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """交办: record who takes the alert on, and the note. A closed alert cannot be acknowledged."""
    e = _episode(conn, alert_id)
    if e["status"] == "closed":
        raise UsageError(f"alert #{alert_id} is closed ({e['closed']}); nothing to hand over")
    if not note.strip():
        raise UsageError("--note is empty: say to whom and what was handed over")
    return _act(
        conn,
        alert_id,
        "acknowledged",
        "acknowledged = coalesce(acknowledged, :at), ack_by = :by, ack_note = :note",
        note,
        by,
        now,
    )


def _act(
    conn: sqlite3.Connection,
    alert_id: int,
    step: str,
    sets: str,
    note: str,
    by: str | None,
    now: datetime | None,
) -> dict[str, Any]:
    """Record a staff step: update the episode (`sets` uses :at, :by, :note) and the steps."""
    stamp = iso(now or datetime.now(UTC))
    who = by or default_by()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        f"UPDATE alert_episodes SET {sets} WHERE id = :id",
        {"at": stamp, "by": who, "note": note, "id": alert_id},
    )
    _step(conn, alert_id, stamp, step, who, note)
    conn.execute("COMMIT")
    return _episode(conn, alert_id)


def close(
    conn: sqlite3.Connection,
    alert_id: int,
    note: str,
    *,
    by: str | None = None,
    force: bool = False,
    reason: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """销号: close a cleared alert with a note; before it cleared only with `force` and a reason."""
    e = _episode(conn, alert_id)
    if e["status"] == "closed":
        raise UsageError(f"alert #{alert_id} is already closed ({e['closed']})")
    if not note.strip():
        raise UsageError("--note is empty: say what was done")
    if e["cleared"] is None:
        if not force:
            raise UsageError(
                f"alert #{alert_id} has not cleared yet (the condition still holds); close it "
                'after it clears, or give --force --reason "why"'
            )
        if not reason or not reason.strip():
            raise UsageError("--force needs --reason: why close an alert that has not cleared")
    text = note if e["cleared"] is not None else f"{note}（强制销号：{reason}）"
    return _act(
        conn,
        alert_id,
        "closed",
        "closed = :at, closed_by = :by, close_note = :note",
        text,
        by,
        now,
    )


def steps(conn: sqlite3.Connection, alert_id: int) -> pd.DataFrame:
    """Every recorded step of one alert, oldest first."""
    _episode(conn, alert_id)
    return pd.read_sql_query(
        "SELECT at, step, by, note FROM alert_steps WHERE alert_id = ? ORDER BY id",
        conn,
        params=(alert_id,),
    )


def format_alerts(df: pd.DataFrame, fmt: str, tz: Any) -> str:
    """`envwatch alerts list` output: a table (local times, short detail), CSV or JSON objects
    (the view's columns, times ISO-8601 UTC)."""
    import io
    import json

    if fmt == "json":
        records = [{k: _native(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
        return json.dumps(records, ensure_ascii=False, indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        return buf.getvalue().rstrip("\n")
    from envwatch.query import format_table

    if df.empty:
        return "no alerts"

    def local(v: Any) -> str:
        return "" if not isinstance(v, str) else f"{_parse(v).astimezone(tz):%Y-%m-%d %H:%M}"

    shown = pd.DataFrame(
        {
            "id": df["id"],
            "status": df["status"],
            "rule": df["rule"],
            "subject": [
                f"{n}（{s}）" if n and n != s else s
                for n, s in zip(df["subject_name"], df["subject"], strict=True)
            ],
            "opened": df["opened"].map(local),
            "cleared": df["cleared"].map(local),
            "detail": df["detail"].map(lambda t: t if len(t) <= 60 else t[:59] + "…"),
        }
    )
    return format_table(shown)


def _native(v: Any) -> Any:
    if v is None or (isinstance(v, float) and v != v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def describe(db: Any, alert_id: int, tz: Any) -> str:
    """`envwatch alerts show`: the alert's main fields and its steps, times local."""
    from envwatch.query import format_table
    from envwatch.store import Store

    with Store.readonly(db) as store:
        e = _episode(store.conn, alert_id)
        df = steps(store.conn, alert_id)

    def local(v: str | None) -> str:
        return "—" if v is None else f"{_parse(v).astimezone(tz):%Y-%m-%d %H:%M}"

    subject = e["subject_name"] or e["subject"]
    lines = [
        f"#{e['id']} {e['rule']} ({e['kind']}): {subject} ({e['subject']}) — {e['status']}",
        f"  {e['detail']}",
        f"  opened {local(e['opened'])}, last seen {local(e['last_seen'])}, "
        f"cleared {local(e['cleared'])}, closed {local(e['closed'])}",
    ]
    df["at"] = df["at"].map(local)
    return "\n".join(lines) + "\n" + format_table(df)
