"""stations.yaml validation: every error names the file, the line and what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from envwatch.config import KNOWN_TARGETS, load_config
from envwatch.errors import ConfigError

from conftest import ROOT, write_config

GOOD = (ROOT / "stations.yaml").read_text(encoding="utf-8")


def _error(tmp_path: Path, text: str) -> str:
    p = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    return str(e.value)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_shipped_config_is_valid_and_has_every_plan_target() -> None:
    loaded = load_config(ROOT / "stations.yaml")
    cfg = loaded.config
    assert cfg.timezone == "Asia/Shanghai"
    assert {s.id for s in cfg.sites if s.kind == "air"} >= {"1234A", "1236A", "2871A", "3710A"}
    assert {t.id for t in cfg.targets} == set(KNOWN_TARGETS)
    assert loaded.source("cnemc-air-archive").lookback_delta.days == 2
    background = {s.id for s in cfg.sites if s.background}
    assert background == set()
    # Hangzhou's 千岛湖 (kept with --all-sites) is background, without being a registry site
    assert [p.role for p in cfg.areas.membership["1225A"]] == ["background"]
    # 1237A and 1238A change with time (issue 13): dated membership instead of one flag
    dated = {s.id: [(p.valid_from, p.until, p.role) for p in s.membership or []] for s in cfg.sites}
    assert dated["1237A"] == [(None, "2021-12-31", "counts"), ("2022-01-01", None, "background")]
    assert dated["1238A"][-1] == ("2019-01-01", None, "stopped")


def test_unknown_key_names_line_and_suggests(tmp_path: Path) -> None:
    text = GOOD.replace("lookback: 2d", "lookbak: 2d")
    msg = _error(tmp_path, text)
    assert f"stations.yaml:{_line_of(text, 'lookbak')}:" in msg
    assert "unknown key 'lookbak'" in msg and "did you mean 'lookback'" in msg


def test_wrong_type_names_field(tmp_path: Path) -> None:
    text = GOOD.replace("lon: 121.7130", "lon: east")
    msg = _error(tmp_path, text)
    assert f":{_line_of(text, 'lon: east')}: sites[2].lon" in msg
    assert "number" in msg


def test_duplicate_site_id_names_both_lines(tmp_path: Path) -> None:
    text = GOOD.replace("{id: 1235A,", "{id: 1234A,")
    msg = _error(tmp_path, text)
    first, second = (i for i, line in enumerate(text.splitlines(), 1) if "{id: 1234A," in line)
    assert f"stations.yaml:{second}:" in msg and f"also on line {first}" in msg
    assert "duplicate id '1234A'" in msg


def test_coordinates_outside_china(tmp_path: Path) -> None:
    # lon and lat swapped: a typical slip
    text = GOOD.replace("lon: 121.8358, lat: 29.9110", "lon: 29.9110, lat: 121.8358")
    msg = _error(tmp_path, text)
    assert f":{_line_of(text, 'lon: 29.9110')}:" in msg
    assert "outside China" in msg and "order of lon and lat" in msg


def test_target_without_goal(tmp_path: Path) -> None:
    text = GOOD.replace("goal: 24, ", "")
    msg = _error(tmp_path, text)
    assert f":{_line_of(text, 'air.pm25_annual')}: targets[2].goal" in msg
    assert "'goal' is required" in msg


def test_misspelt_target_and_source_kind(tmp_path: Path) -> None:
    text = GOOD.replace("id: air.pm25_annual", "id: air.pm25_anual").replace(
        "kind: cnemc-air-archive", "kind: cnemc-air-archiv"
    )
    msg = _error(tmp_path, text)
    assert "did you mean 'air.pm25_annual'" in msg
    assert "did you mean 'cnemc-air-archive'" in msg


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = GOOD.replace("timezone: Asia/Shanghai", "timezone: Asia/Shanghai\ntimezone: UTC")
    msg = _error(tmp_path, text)
    assert "key 'timezone' appears twice" in msg


def test_bad_cron_and_duration(tmp_path: Path) -> None:
    text = GOOD.replace('schedule: "30 7 * * *"', 'schedule: "daily"').replace(
        "lookback: 2d", "lookback: two days"
    )
    msg = _error(tmp_path, text)
    assert "not a cron expression" in msg
    assert "not a duration" in msg


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.yaml")
    msg = _error(tmp_path, "region: [unclosed\n")
    assert "not valid YAML" in msg


def test_water_section_needs_type(tmp_path: Path) -> None:
    text = GOOD.replace(
        "sources:",
        "  - {id: zh-01, name: 甬江口, kind: water}\n\nsources:",
        1,
    )
    msg = _error(tmp_path, text)
    assert "water_type" in msg and f":{_line_of(text, 'zh-01')}:" in msg
