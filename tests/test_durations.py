"""One duration parser and one `Duration` type for the whole configuration (issue 16), and cron
expressions checked when stations.yaml loads, with the file, the line and the fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from envwatch.config import load_config
from envwatch.duration import parse_duration
from envwatch.errors import ConfigError
from envwatch.http import HttpPolicy, policy_from_config

from conftest import write_config


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)), ("2h", timedelta(hours=2)),
     ("2d", timedelta(days=2)), ("1w", timedelta(weeks=1)), ("1h30m", timedelta(minutes=90)),
     ("1h 30m", timedelta(minutes=90)), ("250ms", timedelta(milliseconds=250)),
     (45, timedelta(seconds=45)), ("12", timedelta(seconds=12)), ("1.5h", timedelta(minutes=90))],
)  # fmt: skip
def test_one_parser_reads_every_form(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["5x", "", "-3s", "m", True, "1h 30", "two days", "nan", "inf"])
def test_the_parser_refuses_with_the_fix(text: object) -> None:
    with pytest.raises(ValueError, match="not a duration; write e.g. 90s"):
        parse_duration(text)  # type: ignore[arg-type]


def _with_source_keys(tmp_path: Path, extra: str) -> Path:
    cfg = write_config(tmp_path)
    text = cfg.read_text(encoding="utf-8").replace("lookback: 2d ", f"{extra}\n    # ", 1)
    cfg.write_text(text, encoding="utf-8")
    return cfg


def test_config_and_http_share_the_same_durations(tmp_path: Path) -> None:
    cfg = _with_source_keys(
        tmp_path,
        "lookback: 1h30m\n    max_catchup: 1w\n    http: {run_budget: 1w, read_timeout: 1h30m}",
    )
    source = load_config(cfg).source("cnemc-air-archive")
    assert source.lookback_delta == timedelta(minutes=90)
    assert parse_duration(source.max_catchup) == timedelta(weeks=1)
    policy = policy_from_config(source.http)
    assert (policy.run_budget, policy.read_timeout) == (604800.0, 5400.0)
    assert HttpPolicy(min_interval="2s").min_interval == 2.0  # type: ignore[arg-type]


def test_a_bad_duration_names_file_line_and_fix(tmp_path: Path) -> None:
    cfg = _with_source_keys(tmp_path, "lookback: 2 days")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    line = next(i for i, t in enumerate(cfg.read_text().splitlines(), 1) if "lookback:" in t)
    assert f"{cfg}:{line}: sources[0].lookback: '2 days' is not a duration" in str(info.value)


@pytest.mark.parametrize(
    ("schedule", "says"),
    [("daily", "not a cron expression"), ("61 7 * * *", "61"), ("0 9 * * 8", "weekday '8'"),
     ("0 9 1 * mon", "restricts both")],
)  # fmt: skip
def test_a_bad_cron_is_found_when_the_config_loads(
    tmp_path: Path, schedule: str, says: str
) -> None:
    cfg = write_config(tmp_path)
    text = cfg.read_text(encoding="utf-8").replace('"30 7 * * *"', f'"{schedule}"', 1)
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if f'"{schedule}"' in t)
    message = str(info.value)
    assert message.startswith(f"{cfg}:{line}: sources[0].schedule: ")
    assert says in message and "e.g. '30 7 * * *'" in message


def test_http_settings_are_checked_with_the_key_and_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"http\.retries: -1 must be a whole number"):
        policy_from_config({"retries": -1})
    with pytest.raises(ConfigError, match=r"http\.verify_tls: 'no' must be true or false"):
        policy_from_config({"verify_tls": "no"})
    with pytest.raises(ConfigError, match=r"http\.retries: True must be a whole number"):
        policy_from_config({"retries": True})
