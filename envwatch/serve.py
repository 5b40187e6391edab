"""``envwatch serve``: Datasette on the store, read-only, on 127.0.0.1.

What staff get in the browser: the public views with Chinese titles, descriptions and a line per
column (label and unit), the canned queries of ``queries.yaml`` with a form for their
parameters, CSV and JSON of every page, and the stations on a map (datasette-cluster-map).

Read-only, four ways over: Datasette opens the file with ``mode=ro``; every connection it
makes to the store (a write connection too, were a plugin to ask for one) runs with
``PRAGMA query_only``; no writable canned query is configured; and the server answers any
request but GET, HEAD and OPTIONS with 405. Arbitrary SQL is allowed by
default (read-only, with a time limit); ``allow_sql=False`` keeps only the canned queries.

Only the public views and the tables behind them can be read: every connection to the store
carries `envwatch.access`'s authorizer (the raw archive ``raw_payloads``, ``run_payloads`` and
``meta`` are refused to typed SQL and canned queries alike; ATTACH, VACUUM INTO and
``load_extension`` too), and those tables have no page or JSON (``permission_allowed``).

CSV pages are neutralised like the exports (`envwatch.spreadsheet`): a cell that a spreadsheet
would run as a formula gets an apostrophe in front (CSV streaming of whole tables is off: a CSV
is at most one page of ``max_returned_rows``; `envwatch export` writes whole tables).

Only this machine's browsers are answered: a request whose ``Host`` header is not
``127.0.0.1``, ``localhost`` or ``[::1]`` (with or without the port) gets 400, so a web page
elsewhere cannot reach the server through DNS rebinding (a name of its own resolving to
127.0.0.1).
The store is opened normally, never in immutable mode, so pages show what an ingest running
meanwhile has committed.

The map: Leaflet and its marker-cluster plug-in are served by Datasette itself from the
installed packages (datasette-leaflet, datasette-cluster-map), with no CDN. Only the background
tiles come from a tile server: OpenStreetMap by default, or `tiles` (an intranet tile server
in WGS-84 / Web Mercator, e.g. a Tianditu mirror). Without one the markers still show, on a
blank background.
"""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from pathlib import Path
from typing import Any

from datasette import hookimpl

from envwatch.access import guard, readable
from envwatch.api import TABLES
from envwatch.errors import UsageError
from envwatch.query import CannedQuery
from envwatch.schema import INTERNAL, TABLE_NOTES
from envwatch.spreadsheet import dangerous
from envwatch.store import Store

DEFAULT_PORT = 8001
HOST = "127.0.0.1"
TIME_LIMIT_MS = 5_000
OSM_TILES = "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"
_PLUGIN_NAME = "envwatch-read-only"


def database_name(db: str | Path) -> str:
    """The name Datasette gives the store: its file name without the suffix."""
    return Path(db).stem


def metadata(
    db: str | Path,
    queries: dict[str, CannedQuery],
    *,
    place: str = "",
    tiles: str | None = None,
) -> dict[str, Any]:
    """Datasette metadata: Chinese titles, descriptions and column notes, canned queries, map."""
    tables: dict[str, Any] = {}
    for t in TABLES.values():
        tables[t.name] = {
            "title": f"{t.title}（{t.name}）",
            "description": t.description,
            "columns": {c.name: c.description for c in t.columns},
        }
    tile_layer = tiles or OSM_TILES
    tables["sites"]["plugins"] = {
        "datasette-cluster-map": {
            "latitude_column": "lat",
            "longitude_column": "lon",
            "tile_layer": tile_layer,
        }
    }
    for name, text in TABLE_NOTES.items():
        tables[name] = {"description": text}
    for name in INTERNAL:
        tables[name] = {"hidden": True}
    canned = {
        q.name: {
            "title": q.title,
            "description": q.description
            + (
                ""
                if not q.params
                else " 参数：" + "；".join(f"{p.name}：{p.help}" for p in q.params.values())
            ),
            "sql": q.sql,
            "params": list(q.params),
            "hide_sql": True,
        }
        for q in queries.values()
    }
    return {
        "title": f"{place}环境监测数据（envwatch，只读）",
        "description": (
            "空气质量（小时、日）、地表水（每次监测、月度）、目标完成情况和采集记录。"
            "时间为本地时间（北京时间），小时值记时段末（01:00 为 00:00-01:00 的均值）。"
            "常用问题见数据库页下方的“Queries”。"
        ),
        "databases": {
            database_name(db): {
                "description": "envwatch 数据库（只读）",
                "tables": tables,
                "queries": canned,
            }
        },
        "plugins": {
            "datasette-cluster-map": {
                # the canned queries name their coordinate columns in Chinese
                "latitude_column": "纬度",
                "longitude_column": "经度",
                "tile_layer": tile_layer,
            }
        },
    }


def _ours(datasette: Any, database: str) -> bool:
    return database in getattr(datasette, "_envwatch_read_only", ())


@hookimpl
def prepare_connection(conn: Any, database: str, datasette: Any) -> None:
    """Datasette hook (this module is registered as a plugin): every connection Datasette
    makes to an envwatch store, reading or writing, runs with PRAGMA query_only and
    `envwatch.access`'s authorizer (public views and the tables behind them only; no ATTACH,
    no writes, no extensions)."""
    if _ours(datasette, database):
        conn.execute("PRAGMA query_only = ON")
        guard(conn)


@hookimpl
def permission_allowed(datasette: Any, actor: Any, action: str, resource: Any) -> bool | None:
    """Datasette hook: the internal tables (the raw archive …) have no page, no JSON and no
    row in the table list; the authorizer refuses them to SQL as well."""
    if action in ("view-table", "view-row") and isinstance(resource, tuple | list):
        database, table = resource[0], resource[1]
        if _ours(datasette, database) and not readable(str(table)):
            return False
    return None


def build_datasette(
    db: str | Path,
    queries: dict[str, CannedQuery],
    *,
    place: str = "",
    allow_sql: bool = True,
    time_limit_ms: int = TIME_LIMIT_MS,
    tiles: str | None = None,
) -> Any:
    """A Datasette instance on the store, read-only, with envwatch's metadata (not started)."""
    from datasette.app import Datasette
    from datasette.plugins import pm

    path = Path(db)
    Store.readonly(path).close()  # a clear message if it is missing or not a store
    if pm.get_plugin(_PLUGIN_NAME) is None:
        pm.register(sys.modules[__name__], name=_PLUGIN_NAME)
    ds = Datasette(
        files=[str(path)],
        metadata=metadata(path, queries, place=place, tiles=tiles),
        settings={
            "default_allow_sql": allow_sql,
            "sql_time_limit_ms": time_limit_ms,
            "max_returned_rows": 5000,
            "allow_csv_stream": False,  # CSV pages are neutralised whole (read_only_app)
            "allow_download": False,
            "suggest_facets": False,
            "default_page_size": 100,
        },
    )
    ds._envwatch_read_only = {database_name(path)}
    return ds


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


def local_host(host: str | None) -> bool:
    """Whether a ``Host`` header names this machine: 127.0.0.1, localhost or [::1], any port."""
    if not host:
        return False
    host = host.strip().lower()
    name, sep, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not sep:
        name = host
    elif not port.isdigit():
        return False
    return name.rstrip(".") in LOCAL_HOSTS


async def _refuse(send: Any, status: int, text: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def read_only_app(app: Any) -> Any:
    """Wrap an ASGI app: a request whose ``Host`` is not this machine gets 400 (DNS
    rebinding); any request but GET, HEAD and OPTIONS gets 405; each with a one-line reason
    (Datasette's own read-only pages never POST)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            hosts = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"]
            if len(hosts) != 1 or not local_host(hosts[0]):
                await _refuse(
                    send,
                    400,
                    "envwatch serve answers this machine only: open it as "
                    "http://127.0.0.1:PORT/ or http://localhost:PORT/\n",
                    [],
                )
                return
            if scope.get("method", "GET") not in _READ_METHODS:
                await _refuse(
                    send,
                    405,
                    "envwatch serve is read-only: nothing can be written through it\n",
                    [(b"allow", b"GET, HEAD, OPTIONS")],
                )
                return
            if _asks_for_csv(scope):
                await app(scope, receive, _csv_neutraliser(send))
                return
        await app(scope, receive, send)

    return wrapped


def _asks_for_csv(scope: dict[str, Any]) -> bool:
    query = scope.get("query_string", b"")
    return str(scope.get("path", "")).endswith(".csv") or b"_format=csv" in query


def neutralise_csv(body: bytes) -> bytes:
    """A CSV document with every cell a spreadsheet would run prefixed with an apostrophe
    (`envwatch.spreadsheet`); everything else byte for byte as CSV writes it."""
    text = body.decode("utf-8", errors="surrogateescape")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in csv.reader(io.StringIO(text, newline="")):
        writer.writerow(["'" + c if dangerous(c) else c for c in row])
    return out.getvalue().encode("utf-8", errors="surrogateescape")


def _csv_neutraliser(send: Any) -> Any:
    """Wrap an ASGI `send`: a CSV response is held until complete (pages of at most
    ``max_returned_rows`` rows: streaming is off) and sent with its cells neutralised."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        content_type = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
        if start.get("status") == 200 and b"html" not in content_type:
            body = neutralise_csv(body)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return wrapped


def serve(
    db: str | Path,
    queries: dict[str, CannedQuery],
    *,
    port: int = DEFAULT_PORT,
    place: str = "",
    allow_sql: bool = True,
    time_limit_ms: int = TIME_LIMIT_MS,
    tiles: str | None = None,
    echo: Any = print,
) -> None:
    """Serve the store with Datasette on http://127.0.0.1:`port`/ until Ctrl-C or SIGTERM."""
    import uvicorn

    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: give a port between 1 and 65535, e.g. 8001")
    ds = build_datasette(
        db, queries, place=place, allow_sql=allow_sql, time_limit_ms=time_limit_ms, tiles=tiles
    )
    asyncio.run(ds.invoke_startup())
    echo(
        f"envwatch: serving {db} read-only at http://{HOST}:{port}/{database_name(db)} "
        "(Ctrl-C to stop)"
    )
    uvicorn.run(read_only_app(ds.app()), host=HOST, port=port, log_level="warning", lifespan="on")
