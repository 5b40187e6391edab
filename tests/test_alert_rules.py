"""Alert rule kinds on hand-made store rows (issue 18): water below target, outfall
violations, overdue zones, stale sources; the commented example block of stations.yaml."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from envwatch.alerts import run_alerts
from envwatch.alerts.channels import Message, Outcome
from envwatch.config import AlertChannel, LoadedConfig, load_config
from envwatch.pipeline import open_store

from conftest import ROOT, write_config

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Ningbo


def _ts(text: str) -> int:
    """A local 'YYYY-MM-DD HH:MM' (UTC+8) as Unix seconds."""
    return int(datetime.fromisoformat(text + "+08:00").timestamp())


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedConfig:
    text = (
        (ROOT / "stations.yaml").read_text(encoding="utf-8")
        + """
alerts:
  channels:
    - {name: duty, kind: webhook, url: "http://127.0.0.1:9/hook", format: json}
  rules:
    - {id: water, kind: water_below_target, sites: [W1], notify: [duty]}
    - {id: outfall, kind: outfall_violation, notify: [duty]}
    - {id: zones, kind: zone_overdue, notify: [duty]}
    - {id: stale, kind: source_stale, hours: 26, sources: [cnemc-water], notify: [duty]}
"""
    )
    text = text.replace(
        "sites:\n",
        "sites:\n  - {id: W1, name: 测试断面, kind: water, water_type: river, target_class: 3}\n  - {id: P1, name: 测试排口, kind: outfall}\n",
        1,
    )
    return load_config(write_config(tmp_path, text))


class Outbox:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, channel: AlertChannel, message: Message, **_: Any) -> Outcome:
        self.sent.append(message.data)
        return Outcome(True, "ok")

    def events(self) -> list[tuple[str, str, str]]:
        out = [(m["rule"], m["event"], m["subject"]) for m in self.sent]
        self.sent.clear()
        return out


def _write(loaded: LoadedConfig, sql: str, *rows: tuple[Any, ...]) -> None:
    with open_store(loaded) as store, store.transaction():
        store.conn.executemany(sql, rows)


def test_water_outfall_zone_and_stale_rules(loaded: LoadedConfig) -> None:
    box = Outbox()
    with open_store(loaded) as store:
        from envwatch.pipeline import sync_sites

        sync_sites(loaded, store)
        run = store.start_run("cnemc-water", "cnemc-water")
        store.finish_run(run, "ok", data_to=_ts("2026-11-18 20:00"))
    _write(
        loaded,
        "INSERT INTO water_sample (site_id, kind, period_end, class, main_pollutants) "
        "VALUES (?, 'auto', ?, ?, ?)",
        (("W1", _ts("2026-11-19 08:00"), 2, None)),
        (("W1", _ts("2026-11-19 12:00"), 4, "氨氮(0.20)")),
    )
    _write(
        loaded,
        "INSERT INTO outfall_check (site_id, period_end, rain, discharging, violation) "
        "VALUES ('P1', ?, 0, ?, ?)",
        (_ts("2026-11-19 09:00"), 1, "晴天排水"),
    )
    _write(
        loaded,
        "INSERT INTO zones (zone_id, name, status, due_on, accepted_on, run_id, updated_at) "
        "VALUES (?, ?, ?, ?, ?, 1, '2026-11-01T00:00:00Z')",
        ("Z1", "蛟川工业园区", "创建中", "2026-10-31", None),
        ("Z2", "庄市小区", "创建中", "2026-12-31", None),
    )
    run_alerts(loaded, now=NOW, send=box)
    sent = list(box.sent)
    assert sorted(box.events()) == [
        ("outfall", "opened", "P1"),
        ("stale", "opened", "cnemc-water"),
        ("water", "opened", "W1"),
        ("zones", "opened", "Z1"),
    ]
    detail = {m["rule"]: m["detail"] for m in sent}
    assert "Ⅳ类" in detail["water"] and "未达目标Ⅲ类" in detail["water"]
    assert "晴天排水" in detail["outfall"]
    assert "2026-10-31" in detail["zones"] and "蛟川工业园区" in detail["zones"]
    assert "2026-11-18 20:00" in detail["stale"] and "40 小时" in detail["stale"]

    # nothing new: nothing sent
    run_alerts(loaded, now=NOW, send=box)
    assert box.events() == []

    # the section meets its target again, the outfall is dry, the zone is accepted, data arrives
    _write(
        loaded,
        "INSERT INTO water_sample (site_id, kind, period_end, class) VALUES ('W1', 'auto', ?, 3)",
        (_ts("2026-11-19 16:00"),),
    )
    _write(
        loaded,
        "INSERT INTO outfall_check (site_id, period_end, rain, discharging, violation) "
        "VALUES ('P1', ?, 0, 0, '')",
        (_ts("2026-11-20 09:00"),),
    )
    _write(
        loaded,
        "UPDATE zones SET status = '已验收', accepted_on = ? WHERE zone_id = ?",
        ("2026-11-19", "Z1"),
    )
    with open_store(loaded) as store:
        run = store.start_run("cnemc-water", "cnemc-water")
        store.finish_run(run, "ok", data_to=_ts("2026-11-20 11:00"))
    run_alerts(loaded, now=NOW, send=box)
    assert sorted(box.events()) == [
        ("outfall", "cleared", "P1"),
        ("stale", "cleared", "cnemc-water"),
        ("water", "cleared", "W1"),
        ("zones", "cleared", "Z1"),
    ]


def test_the_commented_example_in_stations_yaml_is_valid(tmp_path: Path) -> None:
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    start = text.index("# alerts:")
    block = "\n".join(re.sub(r"^# ?", "", line) for line in text[start:].splitlines())
    alerts = load_config(write_config(tmp_path, text[:start] + block + "\n")).config.alerts
    assert [c.format for c in alerts.channels if c.kind == "webhook"] == ["dingtalk"]
    assert {r.kind for r in alerts.rules} == {
        "air_hourly_aqi",
        "air_daily_category",
        "water_below_target",
        "outfall_violation",
        "zone_overdue",
        "source_stale",
        "run_failed",
    }
