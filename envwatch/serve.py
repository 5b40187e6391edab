"""``envwatch serve``: Datasette on the store, read-only, on 127.0.0.1.

What staff get in the browser: the public views with Chinese titles, descriptions and a line per
column (label and unit), the canned queries of ``queries.yaml`` with a form for their
parameters, CSV and JSON of every page, and the stations on a map (datasette-cluster-map).

Read-only, four ways over: Datasette opens the file with ``mode=ro``; every connection it
makes to the store (a write connection too, were a plugin to ask for one) runs with
``PRAGMA query_only``; no writable canned query is configured; and the server answers any
request but GET, HEAD and OPTIONS with 405. Arbitrary SQL is allowed by
default (read-only, with a time limit); ``allow_sql=False`` keeps only the canned queries.
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
import sys
from pathlib import Path
from typing import Any

from datasette import hookimpl

from envwatch.api import TABLES
from envwatch.errors import UsageError
from envwatch.query import CannedQuery
from envwatch.schema import INTERNAL, TABLE_NOTES
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


@hookimpl
def prepare_connection(conn: Any, database: str, datasette: Any) -> None:
    """Datasette hook (this module is registered as a plugin): every connection Datasette
    makes to an envwatch store, reading or writing, runs with PRAGMA query_only."""
    if database in getattr(datasette, "_envwatch_read_only", ()):
        conn.execute("PRAGMA query_only = ON")


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
            "allow_download": False,
            "suggest_facets": False,
            "default_page_size": 100,
        },
    )
    ds._envwatch_read_only = {database_name(path)}
    return ds


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def read_only_app(app: Any) -> Any:
    """Wrap an ASGI app: any request but GET, HEAD and OPTIONS gets 405 and a one-line reason
    (Datasette's own read-only pages never POST)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method", "GET") not in _READ_METHODS:
            body = b"envwatch serve is read-only: nothing can be written through it\n"
            await send(
                {
                    "type": "http.response.start",
                    "status": 405,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"allow", b"GET, HEAD, OPTIONS"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

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
