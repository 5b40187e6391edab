"""What a reader may do on the store through ``envwatch query``, canned queries and ``serve``.

The store is opened read-only (``mode=ro`` and ``PRAGMA query_only``), so nothing can be
written. That is not enough for SQL typed by anyone: a read-only connection still reads every
table, attaches other files (``ATTACH`` and ``VACUUM INTO`` create them), loads extensions and
runs as long as a query asks. `guard` installs SQLite's authorizer on a read connection:

- it reads only the public relations of `envwatch.schema` and the tables behind them
  (`READABLE`), never the raw archive ``raw_payloads`` (which holds whatever a hostile file or
  feed carried), ``run_payloads`` or ``meta``; any table not declared is refused the same way;
- it runs only SELECT (with CTEs, recursive ones too) and the pragmas that read the schema
  (``table_info`` …); ``ATTACH`` (and so ``VACUUM INTO``), ``DETACH``, transactions, every
  CREATE, DROP, INSERT, UPDATE, DELETE, ALTER, ANALYZE and REINDEX, pragmas that set a value,
  and the functions ``load_extension`` and ``fts3_tokenizer`` are refused when the statement is
  prepared, before anything runs or any file is created;
- `limit_time` interrupts a statement after a time limit (a progress handler), and
  `MAX_LENGTH` caps the size of one string or blob (``randomblob(2e9)`` fails instead of
  exhausting memory).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from envwatch.schema import INTERNAL, READABLE

DEFAULT_TIME_LIMIT_MS = 5_000
MAX_LENGTH = (
    64 * 1024 * 1024
)  # bytes of one string or blob; the largest GeoJSON outline is far below

# Pragmas that only read the schema or the connection's state. Those taking a table or index
# name are called with it as their argument; the others are refused with any argument.
_PRAGMAS_WITH_NAME = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
_PRAGMAS_READ = frozenset(
    {
        "application_id",
        "collation_list",
        "compile_options",
        "database_list",
        "data_version",
        "encoding",
        "foreign_keys",
        "freelist_count",
        "function_list",
        "journal_mode",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
        "query_only",
        "schema_version",
        "table_list",
        "user_version",
    }
)
_FUNCTIONS_REFUSED = frozenset({"load_extension", "fts3_tokenizer"})


class Refusal:
    """The reason the authorizer refused the last statement (for a message naming it)."""

    def __init__(self) -> None:
        self.reason = ""


# SQLite's own tables a reader may see (the schema, counters, statistics); not sqlite_dbpage,
# which would hand out the raw pages of every table, the archive's too.
_SQLITE_TABLES = frozenset({"sqlite_sequence", "sqlite_stat1", "json_each", "json_tree"})


def readable(table: str) -> bool:
    """Whether a reader may read `table`: a public relation, a table behind one, the schema,
    a table-valued pragma (``pragma_table_info``, itself checked as a pragma) or JSON."""
    return table in READABLE or table in _SQLITE_TABLES or table.startswith("pragma_")


def authorizer(
    refusal: Refusal | None = None,
) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    """An authorizer for `sqlite3.Connection.set_authorizer` (see the module docstring)."""

    def deny(reason: str) -> int:
        if refusal is not None:
            refusal.reason = reason
        return sqlite3.SQLITE_DENY

    def check(
        action: int, arg1: str | None, arg2: str | None, db: str | None, _view: str | None
    ) -> int:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            table = arg1 or ""
            if db not in (None, "main", "temp"):
                return deny(f"{db}.{table} is not part of the store")
            if readable(table):
                return sqlite3.SQLITE_OK
            what = (
                "internal to envwatch (the raw archive and its bookkeeping)"
                if table in INTERNAL
                else "not one of the store's public views or the tables behind them"
            )
            return deny(f"table {table} is {what}")
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in _FUNCTIONS_REFUSED:
                return deny(f"the function {arg2}() is not allowed")
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in _PRAGMAS_WITH_NAME or (name in _PRAGMAS_READ and arg2 is None):
                return sqlite3.SQLITE_OK
            return deny(f"PRAGMA {name}{'' if arg2 is None else ' = ' + arg2} is not allowed")
        if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and db == "main":
            return sqlite3.SQLITE_OK  # SQLite re-reading the store's schema, not a write
        if action == sqlite3.SQLITE_ATTACH:
            return deny(f"ATTACH and VACUUM INTO ('{arg1}') would create or open another file")
        return deny("only SELECT statements are allowed")

    return check


def guard(conn: sqlite3.Connection, refusal: Refusal | None = None) -> None:
    """Install the authorizer and the length cap on a read connection (see the module docstring)."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_LENGTH)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.set_authorizer(authorizer(refusal))


class TimeLimit:
    """Interrupt a connection's statements after `ms` milliseconds (``timed_out`` tells)."""

    def __init__(self, conn: sqlite3.Connection, ms: int) -> None:
        self.ms = ms
        self.timed_out = False
        self._deadline = time.monotonic() + ms / 1000

        def handler() -> int:
            if time.monotonic() > self._deadline:
                self.timed_out = True
                return 1
            return 0

        conn.set_progress_handler(handler, 10_000)
