"""The one schema declaration (issue 16): the store's views, the API, the README and Datasette
all say the same columns, and drift between them fails loudly."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from demo import Demo, demo_copy

import envwatch
from envwatch import air, outfalls, water
from envwatch.api import TABLES
from envwatch.errors import StoreError
from envwatch.schema import INTERNAL, READABLE, RELATIONS, SQL_TYPES, public_views, view_sql
from envwatch.serve import metadata
from envwatch.store import Store

from conftest import ROOT


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("schema") / "envwatch.db"
    Store.open(db).close()
    return db


@pytest.mark.parametrize("name", [t.name for t in RELATIONS if t.kind != "query"])
def test_each_declared_view_is_what_the_store_has(fresh: Path, name: str) -> None:
    t = TABLES[name]
    with sqlite3.connect(fresh) as conn:
        info = conn.execute(f"PRAGMA table_info({t.name})").fetchall()
    assert [row[1] for row in info] == t.column_names
    for (_, name, decltype, *_), col in zip(info, t.columns, strict=True):
        # a computed column has no declared type; a copied one keeps its table's
        assert decltype in ("", SQL_TYPES[col.kind]), (t.name, name, decltype, col.kind)


@pytest.mark.parametrize("name", [t.name for t in RELATIONS if t.kind == "query"])
def test_each_declared_query_selects_its_columns(fresh: Path, name: str) -> None:
    t = TABLES[name]
    with sqlite3.connect(fresh) as conn:
        cur = conn.execute(t.select() + " LIMIT 0")
    assert [d[0] for d in cur.description] == t.column_names


def test_the_readme_lists_every_public_view_and_column() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("Views for staff", 1)[1].split("\n\n", 2)[1]
    listed: dict[str, set[str]] = {}
    for line in section.splitlines():
        m = re.match(r"^\| `([a-z_]+)` \| [^|]+ \| (.*) \|$", line)
        if m:
            spans = re.findall(r"`([^`]+)`", m.group(2))
            listed[m.group(1)] = {word for span in spans for word in span.split()}
    assert set(listed) == {t.name for t in public_views()}
    for t in public_views():
        missing = [c for c in t.column_names if c not in listed[t.name]]
        assert missing == [], f"README's row of {t.name} lacks {missing}"


def test_every_column_has_a_chinese_label_and_an_english_description() -> None:
    for t in RELATIONS:
        assert re.search(r"[\u4e00-\u9fff]", t.title) and t.en, t.name
        for c in t.columns:
            assert c.label and c.en, (t.name, c.name)


def test_datasette_describes_every_declared_column(tmp_path: Path) -> None:
    meta = metadata(tmp_path / "envwatch.db", {})
    tables = meta["databases"]["envwatch"]["tables"]
    for t in RELATIONS:
        assert list(tables[t.name]["columns"]) == t.column_names
    assert all(tables[name].get("hidden") for name in INTERNAL)


def test_the_views_follow_the_stores_time_zone() -> None:
    assert "'+480 minutes'" in view_sql(480)["air_hourly"]
    assert "'+420 minutes'" in view_sql(420)["air_hourly"]


def test_nothing_internal_is_readable() -> None:
    assert not READABLE & set(INTERNAL)
    assert {"air_hour", "sites", "observations", "run_ledger"} <= READABLE


def test_a_view_that_lost_a_column_fails_loudly(demo_store: Demo, tmp_path: Path) -> None:
    copy = demo_copy(demo_store, tmp_path)
    body = view_sql()["air_daily"].replace(", s.background AS background", "")
    assert body != view_sql()["air_daily"]
    with sqlite3.connect(copy.db) as conn:
        conn.execute("DROP VIEW air_daily")
        conn.execute(f"CREATE VIEW air_daily AS {body}")
    with envwatch.open(copy.db) as ew, pytest.raises(StoreError, match="missing: background"):
        ew.air_daily()


def test_the_python_helpers_read_the_same_days_as_the_api(demo_store: Demo) -> None:
    demo = demo_store
    store = Store.readonly(demo.db)
    try:
        with envwatch.open(demo.db) as ew:
            for day in ("2026-08-04", "2026-08-21"):
                mine = water.samples(store, None, day, day)
                api = ew.water_samples(start=day, end=day)
                assert len(mine) and mine["period_end"].tolist() == api["period_end"].tolist()
            days = air.daily(store, ["1236A"], "2019-01-02", "2019-01-02")
            api_days = ew.air_daily("1236A", "2019-01-02", "2019-01-02")
            assert (
                days["date"].tolist() == api_days["date"].tolist() == [pd.Timestamp("2019-01-02")]
            )
        assert outfalls.inspections(store, "2026-01-01", "2026-12-31").empty
        with pytest.raises(envwatch.errors.UsageError, match="not a date"):
            water.samples(store, None, "2026-13-01")
    finally:
        store.close()
