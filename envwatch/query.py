"""Read-only SQL on the store, canned queries, and output as an aligned table, CSV or JSON.

The store is opened read-only at the SQLite level (``mode=ro`` and ``query_only``): a write
statement fails inside SQLite and changes nothing, whatever the SQL says. On top of that
`envwatch.access` refuses, before anything runs, every statement but SELECT, reads of the
internal tables (the raw archive), ATTACH and VACUUM INTO (which would create files) and
``load_extension``; a time limit stops a statement that runs too long (an endless recursive
CTE) and a row limit one that returns too much.

Canned queries live in ``queries.yaml`` (the one beside the configuration file if there is one,
else the repository's): each has a name, a Chinese title and description, typed parameters and
one SQL statement. A parameter left out is the empty string, which the SQL reads as "the
default", so a query behaves the same from ``envwatch query NAME`` and from Datasette.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from envwatch.access import DEFAULT_TIME_LIMIT_MS, MAX_LENGTH, Refusal, TimeLimit, guard
from envwatch.errors import QueryError, UsageError
from envwatch.spreadsheet import neutralise_frame
from envwatch.store import Store

QUERIES_FILE = "queries.yaml"
BUNDLED_QUERIES = Path(__file__).resolve().parent.parent / QUERIES_FILE
"""The repository's canned queries (used when the configuration's folder has none)."""

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster

PARAM_TYPES = {"text": None, "date": "%Y-%m-%d", "month": "%Y-%m"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SQL_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")

MAX_ROWS = 1_000_000
"""Rows `run_query` returns at most; a bigger result stops with a message (use `envwatch export`)."""

_FETCH = 10_000


def run_query(
    db: str | Path,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    time_limit_ms: int = DEFAULT_TIME_LIMIT_MS,
    max_rows: int = MAX_ROWS,
) -> pd.DataFrame:
    """Run one SQL statement on the store, read-only; return the rows as a DataFrame.

    Guarded by `envwatch.access`: only SELECT on the public views and the tables behind them;
    ATTACH, VACUUM INTO, writes, pragmas that set a value and ``load_extension`` are refused
    before anything runs (QueryError). The statement is stopped after `time_limit_ms`
    milliseconds, or when it returns more than `max_rows` rows (QueryError).
    """
    if time_limit_ms <= 0:
        raise UsageError(f"--time-limit {time_limit_ms}: give milliseconds above 0, e.g. 5000")
    store = Store.readonly(db)
    refusal = Refusal()
    guard(store.conn, refusal)
    limit = TimeLimit(store.conn, time_limit_ms)
    rows: list[Any] = []
    try:
        cur = store.conn.execute(sql, dict(params or {}))
        cols = [d[0] for d in cur.description] if cur.description else []
        while batch := cur.fetchmany(_FETCH):
            rows += batch
            if len(rows) > max_rows:
                raise QueryError(
                    f"the query returns more than {max_rows:,} rows; narrow it (WHERE, LIMIT) "
                    "or use `envwatch export` for whole tables"
                )
    except sqlite3.DatabaseError as e:
        raise QueryError(_explain(str(e), refusal, limit)) from None
    except sqlite3.Warning as e:
        raise QueryError(f"SQL error: {e} (give one statement at a time)") from None
    except (sqlite3.ProgrammingError, MemoryError, RecursionError) as e:
        raise QueryError(f"SQL error: {e or type(e).__name__}") from None
    finally:
        store.close()
    return pd.DataFrame(rows, columns=cols)


def _explain(text: str, refusal: Refusal, limit: TimeLimit) -> str:
    """A one-line message for a statement SQLite refused or stopped."""
    if refusal.reason:
        return (
            f"envwatch query is read-only and refused this statement: {refusal.reason}; it "
            "reads the public views (air_hourly, water_samples, runs … see README) and the "
            "tables behind them, and changes and creates nothing"
        )
    if limit.timed_out or text == "interrupted":
        return (
            f"the query took longer than {limit.ms:,} ms and was stopped; narrow it (WHERE, "
            "LIMIT) or give more time with --time-limit MS"
        )
    if any(w in text for w in ("readonly", "read-only", "query_only", "attempt to write")):
        return (
            "envwatch query is read-only: this statement would change the store and was "
            "refused; nothing was changed (data gets in with `envwatch ingest`)"
        )
    if "too big" in text:
        return f"SQL error: {text} (one value may hold at most {MAX_LENGTH // 2**20} MB)"
    return f"SQL error: {text}"


def _width(text: str) -> int:
    """Display width in a terminal: East Asian wide and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _cell(v: Any) -> str:
    """A value as shown in a terminal table; control characters (a hostile name's escape
    sequences, which a terminal would obey) are shown as ``\\x1b`` instead."""
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    text = str(v).replace("\t", " ").replace("\n", " ")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def format_table(df: pd.DataFrame) -> str:
    """An aligned text table; numbers right-aligned, text left-aligned, CJK counted double."""
    if df.columns.empty:
        return "(no columns)"
    cells = [[_cell(v) for v in row] for row in df.itertuples(index=False, name=None)]
    headers = [_cell(str(c)) for c in df.columns]
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
    if fmt == "csv":  # opened in Excel: no cell may run as a formula
        buf = io.StringIO()
        neutralise_frame(df).to_csv(buf, index=False)
        return buf.getvalue().rstrip("\n")
    if fmt == "json":
        records = [
            {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
            for r in df.to_dict(orient="records")
        ]
        return json.dumps(records, ensure_ascii=False, indent=1, default=str)
    raise QueryError(f"unknown format '{fmt}': use table, csv or json")


# -- canned queries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A canned query's parameter: its type (``text``, ``date`` YYYY-MM-DD, ``month`` YYYY-MM)
    and a Chinese help text that says what an empty value means."""

    name: str
    type: str = "text"
    help: str = ""


@dataclass(frozen=True)
class CannedQuery:
    """One query of ``queries.yaml``: name, Chinese title and description, parameters, SQL."""

    name: str
    title: str
    description: str
    sql: str
    params: dict[str, Param] = field(default_factory=dict)

    def bind(self, values: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Check `values` against the parameters; fill the missing ones with '' (the default).

        Raises UsageError naming the parameter for an unknown name or a malformed date/month.
        """
        values = dict(values or {})
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            takes = ", ".join(self.params) or "no parameters"
            raise UsageError(
                f"query '{self.name}' has no parameter '{unknown[0]}'; it takes: {takes}"
            )
        bound: dict[str, str] = {}
        for name, p in self.params.items():
            v = "" if values.get(name) is None else str(values[name]).strip()
            fmt = PARAM_TYPES[p.type]
            if v and fmt is not None:
                try:
                    datetime.strptime(v, fmt)
                except ValueError:
                    example = "2026-11-01" if p.type == "date" else "2026-11"
                    raise UsageError(
                        f"query '{self.name}': {name}='{v}' is not a {p.type}; "
                        f"write it like {example}"
                    ) from None
            bound[name] = v
        return bound


def queries_path(config_dir: str | Path | None = None) -> Path:
    """The canned queries in use: ``queries.yaml`` in `config_dir` if present, else the bundled one."""
    if config_dir is not None:
        local = Path(config_dir) / QUERIES_FILE
        if local.exists():
            return local
    return BUNDLED_QUERIES


def load_queries(path: str | Path | None = None) -> dict[str, CannedQuery]:
    """Read and check a canned-queries file (default: the bundled ``queries.yaml``), in file order.

    Every ``:name`` in a query's SQL must be declared under ``params`` and the other way round;
    errors name the file and the query.
    """
    p = Path(path) if path is not None else BUNDLED_QUERIES
    try:
        raw = yaml.load(p.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except OSError as e:
        raise QueryError(f"{p}: cannot read the canned queries ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise QueryError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise QueryError(f"{p}: expected a mapping of query names to queries")
    out: dict[str, CannedQuery] = {}
    for name, spec in raw.items():
        where = f"{p}: query '{name}'"
        if not isinstance(name, str) or not _NAME.match(name):
            raise QueryError(f"{where}: names are lower-case letters, digits and _")
        if not isinstance(spec, dict) or not {"title", "sql"} <= set(spec):
            raise QueryError(f"{where}: needs at least title and sql")
        extra = set(spec) - {"title", "description", "params", "sql"}
        if extra:
            raise QueryError(f"{where}: unknown key '{sorted(extra)[0]}'")
        params: dict[str, Param] = {}
        for pname, pspec in (spec.get("params") or {}).items():
            pspec = pspec if isinstance(pspec, dict) else {"help": str(pspec or "")}
            ptype = pspec.get("type", "text")
            if ptype not in PARAM_TYPES:
                raise QueryError(
                    f"{where}: parameter '{pname}' has type '{ptype}'; use text, date or month"
                )
            params[str(pname)] = Param(str(pname), ptype, str(pspec.get("help", "")))
        sql = str(spec["sql"]).strip().rstrip(";")
        used = set(_SQL_PARAM.findall(_strip_literals(sql)))
        if used != set(params):
            missing = sorted(used - set(params))
            unused = sorted(set(params) - used)
            detail = (
                f"':{missing[0]}' is used in the SQL but not declared under params"
                if missing
                else f"parameter '{unused[0]}' is declared but not used in the SQL"
            )
            raise QueryError(f"{where}: {detail}")
        out[name] = CannedQuery(
            name=name,
            title=str(spec["title"]),
            description=_unfold(str(spec.get("description", ""))),
            sql=sql,
            params=params,
        )
    return out


def _unfold(text: str) -> str:
    """Lines joined into one paragraph: no space between Chinese lines, one between others."""
    out = ""
    for line in (ln.strip() for ln in text.splitlines()):
        if not line:
            continue
        if out and (out[-1].isascii() or line[0].isascii()):
            out += " "
        out += line
    return out


def _strip_literals(sql: str) -> str:
    """SQL without its string literals, quoted identifiers and comments (for finding :params)."""
    sql = re.sub(r"--[^\n]*", " ", sql)
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", " ", sql)


def run_canned(
    db: str | Path,
    query: CannedQuery,
    params: Mapping[str, Any] | None = None,
    *,
    time_limit_ms: int = DEFAULT_TIME_LIMIT_MS,
) -> pd.DataFrame:
    """Run a canned query read-only with `params` (missing ones are '', the default)."""
    return run_query(db, query.sql, query.bind(params), time_limit_ms=time_limit_ms)


def describe_queries(queries: Mapping[str, CannedQuery]) -> str:
    """The list shown by ``envwatch query --list``: name, title, description and parameters."""
    blocks = []
    for q in queries.values():
        lines = [f"{q.name}  {q.title}", f"    {q.description}"]
        for p in q.params.values():
            kind = "" if p.type == "text" else f" ({p.type})"
            lines.append(f"    -p {p.name}=…{kind}  {p.help}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
