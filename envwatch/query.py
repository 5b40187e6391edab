"""Read-only SQL on the store, and output as an aligned table, CSV or JSON.

The store is opened read-only at the SQLite level (``mode=ro`` and ``query_only``): a write
statement fails inside SQLite and changes nothing, whatever the SQL says.
"""

from __future__ import annotations

import io
import json
import sqlite3
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd

from envwatch.errors import QueryError
from envwatch.store import Store

_WRITE_WORDS = (
    "insert",
    "update",
    "delete",
    "drop",
    "create",
    "alter",
    "replace",
    "attach",
    "vacuum",
    "pragma",
)


def run_query(db: str | Path, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Run one SQL statement on the store, read-only; return the rows as a DataFrame."""
    store = Store.readonly(db)
    try:
        cur = store.conn.execute(sql, params or {})
        cols = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall()
    except sqlite3.OperationalError as e:
        text = str(e)
        first = sql.strip().split(None, 1)[0].lower() if sql.strip() else ""
        if (
            "readonly" in text
            or "read-only" in text
            or "query_only" in text
            or first in _WRITE_WORDS
            and "attempt to write" in text
        ):
            raise QueryError(
                "envwatch query is read-only: this statement would change the store and was "
                "refused; nothing was changed (data gets in with `envwatch ingest`)"
            ) from None
        raise QueryError(f"SQL error: {text}") from None
    except sqlite3.Warning as e:
        raise QueryError(f"SQL error: {e} (give one statement at a time)") from None
    except sqlite3.ProgrammingError as e:
        raise QueryError(f"SQL error: {e}") from None
    finally:
        store.close()
    return pd.DataFrame(rows, columns=cols)


def _width(text: str) -> int:
    """Display width in a terminal: East Asian wide and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def format_table(df: pd.DataFrame) -> str:
    """An aligned text table; numbers right-aligned, text left-aligned, CJK counted double."""
    if df.columns.empty:
        return "(no columns)"
    cells = [[_cell(v) for v in row] for row in df.itertuples(index=False, name=None)]
    headers = [str(c) for c in df.columns]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    widths = [max([_width(h)] + [_width(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def pad(text: str, i: int) -> str:
        gap = " " * (widths[i] - _width(text))
        return gap + text if numeric[i] else text + gap

    lines = ["  ".join(pad(h, i) for i, h in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(pad(c, i) for i, c in enumerate(r)).rstrip() for r in cells]
    lines.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(lines)


def format_result(df: pd.DataFrame, fmt: str) -> str:
    """Render query results as ``table``, ``csv`` or ``json`` (a list of objects, UTF-8)."""
    if fmt == "table":
        return format_table(df)
    if fmt == "csv":
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        return buf.getvalue().rstrip("\n")
    if fmt == "json":
        records = [
            {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
            for r in df.to_dict(orient="records")
        ]
        return json.dumps(records, ensure_ascii=False, indent=1, default=str)
    raise QueryError(f"unknown format '{fmt}': use table, csv or json")
