"""The alert tables and the ``alerts`` view, created on first use in any store.

Tables (times are ISO-8601 UTC text, like the run ledger):

- ``alert_episodes``: one row per (rule, subject) episode: opened when the condition starts,
  ``last_seen`` each time it is seen again, ``cleared`` when it stops; ack and close with who,
  when and the note.
- ``alert_steps``: every step of every episode (opened, notified, repeated, cleared,
  acknowledged, closed, delivery failures) with its time, who and a note.
- ``alert_deliveries``: one row per message per channel: ``pending`` until sent, ``ok``,
  ``failed`` (retried by the next run) or ``dropped`` (its channel left the config), attempts,
  the last try and the (redacted) error.
- ``alert_cursors``: per rule and subject, the newest data the rule has looked at, so that
  re-ingesting the same data announces nothing.

The tables live outside the store's numbered migrations so that the store schema of the other
parts of envwatch is not touched; `ensure_schema` is cheap once the tables exist.
"""

from __future__ import annotations

import hashlib
import sqlite3

_TABLES = """
CREATE TABLE IF NOT EXISTS alert_episodes (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    subject_name TEXT,
    subject_type TEXT,
    detail TEXT NOT NULL,
    last_detail TEXT,
    clear_detail TEXT,
    opened TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_notified TEXT,
    cleared TEXT,
    acknowledged TEXT,
    ack_by TEXT,
    ack_note TEXT,
    closed TEXT,
    closed_by TEXT,
    close_note TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS alert_episodes_current ON alert_episodes (rule, subject, cleared);
CREATE INDEX IF NOT EXISTS alert_episodes_closed ON alert_episodes (closed);
CREATE TABLE IF NOT EXISTS alert_steps (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alert_episodes (id),
    at TEXT NOT NULL,
    step TEXT NOT NULL,
    by TEXT,
    note TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS alert_steps_alert ON alert_steps (alert_id);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alert_episodes (id),
    event TEXT NOT NULL,
    channel TEXT NOT NULL,
    created TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_try TEXT,
    error TEXT,
    response TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS alert_deliveries_status ON alert_deliveries (status, id);
CREATE INDEX IF NOT EXISTS alert_deliveries_alert ON alert_deliveries (alert_id);
CREATE TABLE IF NOT EXISTS alert_cursors (
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    mark TEXT NOT NULL,
    PRIMARY KEY (rule, subject)
) STRICT, WITHOUT ROWID
"""

VIEW = """
SELECT e.id, e.rule, e.kind, e.subject, e.subject_name, e.subject_type, e.detail,
       e.opened, e.last_seen,
       (SELECT min(d.last_try) FROM alert_deliveries d
         WHERE d.alert_id = e.id AND d.event = 'opened' AND d.status = 'ok') AS notified,
       (SELECT group_concat(d.channel || ' ' || d.event || ': ' || d.status
                || coalesce(' ' || d.last_try, '') || coalesce(' (' || d.error || ')', ''), '; ')
          FROM alert_deliveries d WHERE d.alert_id = e.id) AS channels,
       e.cleared, e.clear_detail,
       CASE WHEN e.closed IS NOT NULL THEN 'closed'
            WHEN e.cleared IS NOT NULL THEN 'cleared'
            WHEN e.acknowledged IS NOT NULL THEN 'acknowledged'
            ELSE 'open' END AS status,
       e.acknowledged, e.ack_by, e.ack_note, e.closed, e.closed_by, e.close_note
FROM alert_episodes e
"""

_DIGEST = hashlib.sha256((_TABLES + VIEW).encode()).hexdigest()[:16]


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the alert tables and the ``alerts`` view if this store lacks them (or an older
    version of the view)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'alerts_schema'").fetchone()
    except sqlite3.OperationalError:
        row = None
    if row is not None and row[0] == _DIGEST:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _TABLES.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("DROP VIEW IF EXISTS alerts")
        conn.execute(f"CREATE VIEW alerts AS {VIEW}")
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('alerts_schema', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (_DIGEST,),
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def has_schema(conn: sqlite3.Connection) -> bool:
    """Whether the store has the alert tables (a read-only store may not)."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alert_episodes'"
    ).fetchone()
    return row is not None
