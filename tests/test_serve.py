"""`envwatch serve`: Datasette on the demo store over HTTP, read-only, on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from demo import Demo, demo_copy

from envwatch.query import load_queries, run_canned
from envwatch.serve import build_datasette

ENVWATCH = Path(sys.executable).parent / "envwatch"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_store: Demo) -> Demo:
    return demo_copy(demo_store, tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def server(demo: Demo) -> Iterator[str]:
    """`envwatch serve --port N` in a child process; yields its base URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [str(ENVWATCH), "--config", str(demo.config), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/-/versions.json", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.stdout else ""
                    pytest.fail(f"envwatch serve did not start: {out}")
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _json(url: str) -> Any:
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200, (url, r.text[:500])
    return r.json()


def test_every_canned_query_answers_over_http(server: str, demo: Demo) -> None:
    queries = load_queries()
    meta = _json(f"{server}/-/metadata.json")
    assert "镇海区" in meta["title"]
    assert list(meta["databases"]["envwatch"]["queries"]) == list(queries)
    for name, q in queries.items():
        rows = _json(f"{server}/envwatch/{name}.json?_shape=array")
        assert len(rows) == len(run_canned(demo.db, q)), name
        page = httpx.get(f"{server}/envwatch/{name}", timeout=30)
        assert page.status_code == 200 and q.title in page.text
    one = _json(f"{server}/envwatch/latest_air.json?_shape=array&site=1236A")
    assert [(r["站点编号"], r["站点名称"]) for r in one] == [("1236A", "龙赛医院")]


def test_views_have_chinese_titles_and_units_per_column(server: str) -> None:
    page = httpx.get(f"{server}/envwatch/air_daily", timeout=30).text
    assert "空气质量日数据（air_daily）" in page
    assert "PM2.5 日均，单位 µg/m³" in page and "CO 日均，单位 mg/m³" in page
    water = httpx.get(f"{server}/envwatch/water_samples", timeout=30).text
    assert "氨氮，单位 mg/L" in water and "水温，单位 ℃" in water
    tables = {t["name"] for t in _json(f"{server}/envwatch.json")["tables"]}
    views = {v["name"] for v in _json(f"{server}/envwatch.json")["views"]}
    assert {"air_hourly", "air_daily", "water_samples", "water_periods", "scorecard"} <= views
    assert "raw_payloads" not in tables  # the raw archive has no page (test_access.py)
    assert ">raw_payloads<" not in httpx.get(f"{server}/envwatch", timeout=30).text


def test_writes_are_refused_and_change_nothing(server: str, demo: Demo) -> None:
    with sqlite3.connect(demo.db) as conn:
        before = conn.execute("select count(*) from observations").fetchone()[0]
    for sql in ("delete from observations", "update sites set name = 'x'", "drop table sites"):
        r = httpx.get(f"{server}/envwatch.json", params={"sql": sql}, timeout=30)
        assert r.status_code == 400 and r.json()["ok"] is False, sql
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = httpx.request(method, f"{server}/envwatch/latest_air", data={"site": "x"}, timeout=30)
        assert r.status_code == 405 and "read-only" in r.text, method
    with sqlite3.connect(demo.db) as conn:
        assert conn.execute("select count(*) from observations").fetchone()[0] == before
        assert conn.execute("select count(*) from sites where name = 'x'").fetchone()[0] == 0


def test_listens_on_127_0_0_1_only(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.2", port), timeout=2):
        pass


def test_the_map_needs_nothing_from_the_internet_but_tiles(server: str) -> None:
    page = httpx.get(f"{server}/envwatch/sites", params={"kind": "air"}, timeout=30).text
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    outside = [a for a in assets if a.startswith(("http:", "https:", "//"))]
    assert [a for a in outside if not a.startswith(server)] == []
    needed = re.findall(r"(/-/static-plugins/[^'\"]+\.(?:js|css))", page)
    assert any("leaflet" in u for u in needed) and any("markercluster" in u for u in needed)
    for url in needed:
        assert httpx.get(server + url, timeout=30).status_code == 200, url


def test_even_datasette_own_write_path_is_read_only(demo: Demo) -> None:
    ds = build_datasette(demo.db, load_queries())

    async def attempt() -> str:
        await ds.invoke_startup()
        try:
            await ds.get_database("envwatch").execute_write("delete from observations")
        except sqlite3.DatabaseError as e:
            return str(e)
        return "written"

    # refused before it runs (the authorizer), and read-only underneath (query_only)
    assert "not authorized" in asyncio.run(attempt())


def test_no_sql_keeps_only_the_canned_queries(demo: Demo) -> None:
    ds = build_datasette(demo.db, load_queries(), allow_sql=False)

    async def get(path: str) -> int:
        await ds.invoke_startup()
        return (await ds.client.get(path)).status_code

    assert asyncio.run(get("/envwatch.json?sql=select+1")) == 403
    assert asyncio.run(get("/envwatch/latest_air.json")) == 200


def test_an_intranet_tile_server_replaces_openstreetmap(demo: Demo) -> None:
    tiles = "http://tiles.example.intranet/{z}/{x}/{y}.png"
    ds = build_datasette(demo.db, load_queries(), tiles=tiles)

    async def pages() -> list[str]:
        await ds.invoke_startup()
        return [(await ds.client.get(p)).text for p in ("/envwatch/sites", "/envwatch/latest_air")]

    for page in asyncio.run(pages()):
        assert tiles in page and "openstreetmap.org/{z}" not in page


def _raw_request(server: str, host: bytes | None) -> bytes:
    """A GET / over a plain socket with exactly the Host header given (None: none at all)."""
    port = int(server.rsplit(":", 1)[1])
    lines = [b"GET /envwatch.json HTTP/1.1"]
    if host is not None:
        lines.append(b"Host: " + host)
    lines += [b"Connection: close", b"", b""]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(lines))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_only_localhost_names_are_answered(server: str) -> None:
    """DNS rebinding: a page on evil.example whose name resolves to 127.0.0.1 sends
    Host: evil.example; it must get nothing from the store."""
    port = str(int(server.rsplit(":", 1)[1])).encode()
    for host in (b"127.0.0.1:" + port, b"localhost:" + port, b"[::1]:" + port, b"localhost"):
        assert _raw_request(server, host).startswith(b"HTTP/1.1 200"), host
    for host in (
        b"evil.example:" + port,
        b"evil.example",
        b"127.0.0.1.evil.example:" + port,
        b"localhost.evil.example",
        b"127.0.0.2:" + port,
        b"0.0.0.0:" + port,
        b"localhost:80x",
        b"",
        None,
    ):
        reply = _raw_request(server, host)
        assert reply.startswith(b"HTTP/1.1 400"), (host, reply[:80])
        assert b"air_hourly" not in reply
        if host is not None:  # without any Host the HTTP server itself refuses the request
            assert b"this machine only" in reply
