"""Alerts and the closed loop (issue 18), against local receivers: an HTTP server on 127.0.0.1
for the webhooks and aiosmtpd for mail, with the bundled real CNEMC samples (Ningbo's stations
only, to keep the runs short). 1236A 龙赛医院 has hourly AQI 149, 153, 150, 143 at 20:00-23:00
on 2019-01-02 (computed by HJ 633 from the sample; the feed publishes the same).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from envwatch.config import load_config
from envwatch.errors import ConfigError

from conftest import ROOT, SLIM_DAY1, SLIM_DAY2, write_config

NINGBO = ["1234A", "1235A", "1236A", "1237A", "1238A", "1239A", "1240A", "1241A", "2871A", "3710A"]
TOKEN = "tok-Secret-4711"
SIGN_SECRET = "SECd0c5ecret"


class Receiver:
    """A webhook receiver on 127.0.0.1: records each POST; answers `answer` with `status`."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        self.answer = b'{"errcode": 0, "errmsg": "ok", "code": 0}'
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str = "/hook") -> list[dict[str, Any]]:
        return [json.loads(p["body"]) for p in self.posts if p["path"].startswith(path)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two (slim) sample days with Ningbo's stations only; `day2_to21` stops at 21:00."""
    folder = tmp_path_factory.mktemp("samples")
    out = {}
    for key, src, name in (
        ("day1", SLIM_DAY1, "china_sites_20190101.csv"),
        ("day2", SLIM_DAY2, "china_sites_20190102.csv"),
    ):
        df = pd.read_csv(src, dtype=str)
        df = df[["date", "hour", "type", *[c for c in NINGBO if c in df.columns]]]
        (folder / key).mkdir()
        p = folder / key / name
        df.to_csv(p, index=False)
        out[key] = p
        if key == "day2":
            (folder / "day2_to21").mkdir()
            p = folder / "day2_to21" / name
            df[df["hour"].astype(int) <= 21].to_csv(p, index=False)
            out["day2_to21"] = p
    return out


def alerts_block(receiver: Receiver, *, rules: str, extra_channels: str = "") -> str:
    return f"""
alerts:
  overdue_after: 1d
  channels:
    - {{name: hook, kind: webhook, url: "{receiver.url("/hook")}?token={{HOOK_TOKEN}}", format: json, secrets: [HOOK_TOKEN], http: {{retries: 1, backoff_base: 0.01, backoff_max: 0.01}}}}
{extra_channels}
  rules:
{rules}
"""


AQI_RULES = """\
    - {id: aqi-high, kind: air_hourly_aqi, threshold: 150, sites: [1236A], notify: [hook]}
    - {id: run-failed, kind: run_failed, notify: [hook]}
"""


@pytest.fixture
def make_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> Callable[..., Path]:
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    monkeypatch.setenv("DING_TOKEN", TOKEN)
    monkeypatch.setenv("SIGN_SECRET", SIGN_SECRET)

    def make(rules: str = AQI_RULES, extra_channels: str = "") -> Path:
        text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
        text += alerts_block(receiver, rules=rules, extra_channels=extra_channels)
        return write_config(tmp_path, text)

    return make


def cli(config: Path, *args: str) -> Result:
    from envwatch.cli import main

    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def ingest(config: Path, *files: Path) -> Result:
    args = [a for f in files for a in ("--file", str(f))]
    return cli(config, "ingest", "cnemc-air-archive", *args)


def listed(config: Path, *flags: str) -> list[dict[str, Any]]:
    r = cli(config, "alerts", "list", "--format", "json", *flags)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


# -- configuration --------------------------------------------------------------------------


def test_config_errors_name_line_and_fix(tmp_path: Path) -> None:
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8") + (
        "\nalerts:\n  channels:\n"
        '    - {name: duty, kind: webhook, url: "https://x.example/robot?t={DING}", format: dingtalk}\n'
        "  rules:\n    - {id: r1, kind: air_hourly_aqii, threshold: 100}\n"
    )
    with pytest.raises(ConfigError) as e:
        load_config(write_config(tmp_path, text))
    msg = str(e.value)
    assert "did you mean 'air_hourly_aqi'" in msg
    assert "add DING to its secrets" in msg
    assert "stations.yaml:" in msg

    text = (ROOT / "stations.yaml").read_text(encoding="utf-8") + (
        "\nalerts:\n  channels:\n"
        "    - {name: duty, kind: webhook, url: https://x.example/hook, format: json}\n"
        "  rules:\n    - {id: r1, kind: run_failed, notify: [dutty]}\n"
    )
    with pytest.raises(ConfigError) as e:
        load_config(write_config(tmp_path, text))
    line = text.splitlines().index("    - {id: r1, kind: run_failed, notify: [dutty]}") + 1
    assert f"stations.yaml:{line}: alerts.rules[0].notify: no channel 'dutty'" in str(e.value)
    assert "did you mean 'duty'" in str(e.value)


def test_signing_secret_must_be_an_environment_variable(tmp_path: Path) -> None:
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8") + (
        "\nalerts:\n  channels:\n"
        "    - {name: duty, kind: webhook, url: https://x.example/r, format: dingtalk, secret: SECabc}\n"
    )
    with pytest.raises(ConfigError, match="never the value itself"):
        load_config(write_config(tmp_path, text))


def test_shipped_config_has_no_channel_enabled() -> None:
    alerts = load_config(ROOT / "stations.yaml").config.alerts
    assert alerts.channels == [] and alerts.rules == []


# -- the DingTalk signature ---------------------------------------------------------------


def test_dingtalk_signature_worked_example() -> None:
    """timestamp 1577836800000, secret SECtest: computed with
    `printf '1577836800000\\nSECtest' | openssl dgst -sha256 -hmac SECtest -binary | base64`."""
    from envwatch.alerts.channels import dingtalk_sign, feishu_sign

    assert dingtalk_sign("SECtest", 1577836800000) == "drlICLmsjUfpSZSa7+mhIyTLZHQVqxb4vc20sB3aqQU="
    # Feishu keys the HMAC with "timestamp\nsecret" over an empty message
    expected = base64.b64encode(
        hmac.new(b"1577836800\nSECtest", b"", hashlib.sha256).digest()
    ).decode()
    assert feishu_sign("SECtest", 1577836800) == expected


# -- webhook formats and mail -----------------------------------------------------------------


def test_each_webhook_format_posts_its_robot_body(
    make_config: Callable[..., Path], receiver: Receiver
) -> None:
    channels = f"""\
    - {{name: ding, kind: webhook, url: "{receiver.url("/ding")}?access_token={{DING_TOKEN}}", format: dingtalk, secret: "{{SIGN_SECRET}}", secrets: [DING_TOKEN, SIGN_SECRET]}}
    - {{name: wecom, kind: webhook, url: "{receiver.url("/wecom")}?key={{DING_TOKEN}}", format: wecom, secrets: [DING_TOKEN]}}
    - {{name: feishu, kind: webhook, url: "{receiver.url("/feishu")}", format: feishu, secret: "{{SIGN_SECRET}}", secrets: [SIGN_SECRET]}}
"""
    config = make_config(rules="    []", extra_channels=channels)
    for name in ("ding", "wecom", "feishu", "hook"):
        r = cli(config, "alerts", "test", name)
        assert r.exit_code == 0, r.output
        assert "ok" in r.output.splitlines()[0]
        assert TOKEN not in r.output and SIGN_SECRET not in r.output
    by_path = {urlsplit(p["path"]).path: p for p in receiver.posts}

    ding = by_path["/ding"]
    query = parse_qs(urlsplit(ding["path"]).query)
    assert query["access_token"] == [TOKEN]
    ts = query["timestamp"][0]
    expected = base64.b64encode(
        hmac.new(SIGN_SECRET.encode(), f"{ts}\n{SIGN_SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    assert query["sign"] == [expected]
    body = json.loads(ding["body"])
    assert body["msgtype"] == "text" and "测试消息" in body["text"]["content"]
    assert ding["headers"]["Content-Type"].startswith("application/json")

    wecom = json.loads(by_path["/wecom"]["body"])
    assert wecom["msgtype"] == "text" and "测试消息" in wecom["text"]["content"]

    feishu = json.loads(by_path["/feishu"]["body"])
    assert feishu["msg_type"] == "text" and "测试消息" in feishu["content"]["text"]
    key = f"{feishu['timestamp']}\n{SIGN_SECRET}".encode()
    assert feishu["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()

    envelope = json.loads(by_path["/hook"]["body"])
    assert envelope["event"] == "test" and envelope["subject"] == "hook"


def test_robot_error_code_is_a_failure(
    make_config: Callable[..., Path], receiver: Receiver
) -> None:
    channels = f"""\
    - {{name: ding, kind: webhook, url: "{receiver.url("/ding")}?access_token={{DING_TOKEN}}", format: dingtalk, secrets: [DING_TOKEN]}}
"""
    config = make_config(rules="    []", extra_channels=channels)
    receiver.answer = b'{"errcode": 310000, "errmsg": "keywords not in content"}'
    r = cli(config, "alerts", "test", "ding")
    assert r.exit_code == 2
    assert "FAILED" in r.output and "keywords not in content" in r.output
    assert TOKEN not in r.output


def test_mail_over_smtp(make_config: Callable[..., Path]) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list[Any] = []

    class Keep(Message):
        def handle_message(self, message: Any) -> None:
            received.append(message)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channels = f"""\
    - {{name: mail, kind: email, smtp: "127.0.0.1:{port}", from: envwatch@example.org, to: [duty@example.org]}}
"""
        config = make_config(rules="    []", extra_channels=channels)
        r = cli(config, "alerts", "test", "mail")
        assert r.exit_code == 0, r.output
    finally:
        controller.stop()
    assert len(received) == 1
    mail = received[0]
    assert mail["To"] == "duty@example.org"
    assert "测试" in str(mail["Subject"]) or "测试" in mail.get_payload(decode=True).decode()


def test_unknown_channel_is_named(make_config: Callable[..., Path]) -> None:
    r = cli(make_config(), "alerts", "test", "hok")
    assert r.exit_code == 2
    assert "no alert channel named 'hok' (did you mean 'hook'?)" in r.output


# -- episodes ---------------------------------------------------------------------------------


def test_episode_announced_once_and_reingest_announces_nothing(
    make_config: Callable[..., Path], receiver: Receiver, samples: dict[str, Path]
) -> None:
    config = make_config()
    r = ingest(config, samples["day1"], samples["day2_to21"])
    assert r.exit_code == 0, r.output
    sent = receiver.bodies()
    assert [(b["event"], b["rule"], b["subject"]) for b in sent] == [
        ("opened", "aqi-high", "1236A")
    ]
    body = sent[0]
    assert body["subject_name"] == "龙赛医院" and body["kind"] == "air_hourly_aqi"
    assert body["status"] == "open"
    assert "2019-01-02 21:00 小时AQI 153" in body["detail"]
    # the same data again: nothing new to say
    assert ingest(config, samples["day2_to21"]).exit_code == 0
    assert len(receiver.bodies()) == 1
    [alert] = listed(config)
    assert alert["rule"] == "aqi-high" and alert["status"] == "open"
    assert alert["subject"] == "1236A" and alert["cleared"] is None and alert["opened"]
    assert alert["notified"] is not None


def test_cleared_condition_sends_recovered(
    make_config: Callable[..., Path], receiver: Receiver, samples: dict[str, Path]
) -> None:
    config = make_config()
    ingest(config, samples["day2_to21"])
    # 22:00 150 and 23:00 143 are not above 150: the episode clears
    ingest(config, samples["day2"])
    sent = receiver.bodies()
    assert [b["event"] for b in sent] == ["opened", "cleared"]
    assert sent[1]["status"] == "cleared"
    assert "已恢复" in sent[1]["text"] and "龙赛医院" in sent[1]["text"]
    [alert] = listed(config)
    assert alert["status"] == "cleared" and alert["cleared"] is not None


def test_next_hour_still_high_is_not_announced_again_unless_repeat_after(
    make_config: Callable[..., Path], receiver: Receiver, samples: dict[str, Path]
) -> None:
    rules = """\
    - {id: aqi-100, kind: air_hourly_aqi, threshold: 100, sites: [1236A], notify: [hook]}
    - {id: aqi-100-repeat, kind: air_hourly_aqi, threshold: 100, sites: [1236A], notify: [hook], repeat_after: 0s}
"""
    config = make_config(rules=rules)
    ingest(config, samples["day2_to21"])
    ingest(config, samples["day2"])  # 22:00 and 23:00 still above 100
    events = [(b["rule"], b["event"]) for b in receiver.bodies()]
    assert events.count(("aqi-100", "opened")) == 1
    assert ("aqi-100", "repeat") not in events
    assert events.count(("aqi-100-repeat", "repeat")) == 1


def test_failed_run_is_announced_with_its_source(
    make_config: Callable[..., Path], receiver: Receiver, tmp_path: Path
) -> None:
    config = make_config()
    r = ingest(config, tmp_path / "missing.csv")
    assert r.exit_code == 2
    [body] = receiver.bodies()
    assert body["rule"] == "run-failed" and body["kind"] == "run_failed"
    assert body["subject"] == "cnemc-air-archive"
    assert "cnemc-air-archive" in body["text"] and "失败" in body["text"]


def test_dead_channel_keeps_exit_code_and_is_retried_next_run(
    make_config: Callable[..., Path],
    receiver: Receiver,
    samples: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = make_config()
    receiver.status = 503
    r = ingest(config, samples["day2_to21"])
    assert r.exit_code == 0
    assert len(receiver.posts) == 2  # the first try and one retry (the channel's policy)
    [alert] = listed(config)
    assert alert["notified"] is None and "failed" in alert["channels"]
    assert TOKEN not in alert["channels"] and "{HOOK_TOKEN}" in alert["channels"]
    # the next run (here the scheduler's pass after a job) delivers it, once
    receiver.status = 200
    from envwatch.schedule import _alerts_after_job

    _alerts_after_job(load_config(config), None)
    delivered = [p for p in receiver.posts if b'"opened"' in p["body"]]
    assert len(delivered) == 3
    [alert] = listed(config)
    assert alert["notified"] is not None
    assert ingest(config, samples["day2_to21"]).exit_code == 0
    assert len(receiver.posts) == 3


def test_ack_and_close_are_recorded_and_in_the_report(
    make_config: Callable[..., Path], receiver: Receiver, samples: dict[str, Path]
) -> None:
    from envwatch.alerts.problems import problem_list
    from envwatch.report.page import _environment
    from envwatch.store import Store

    config = make_config()
    ingest(config, samples["day2_to21"])
    [alert] = listed(config)
    aid = str(alert["id"])
    r = cli(config, "alerts", "ack", aid, "--note", "交办镇海分局核查", "--by", "张三")
    assert r.exit_code == 0, r.output
    assert listed(config)[0]["status"] == "acknowledged"
    r = cli(config, "alerts", "close", aid, "--note", "已处理")
    assert r.exit_code == 2 and "has not cleared yet" in r.output
    r = cli(config, "alerts", "close", aid, "--note", "已处理", "--force")
    assert r.exit_code == 2 and "--force needs --reason" in r.output

    loaded = load_config(config)
    with Store.readonly(loaded.store_path) as store:
        today = datetime.now(UTC).astimezone(loaded.tz).date()
        later = datetime.now(UTC) + timedelta(days=2)
        problems = problem_list(
            store.conn,
            today,
            today + timedelta(days=6),
            tz=loaded.tz,
            overdue_after=timedelta(days=1),
            now=later,
        )
    assert [p.id for p in problems.open] == [alert["id"]]
    assert [p.id for p in problems.overdue] == [alert["id"]]  # open for two days > 1d
    assert problems.open[0].handled_by == "张三" and problems.open[0].status == "acknowledged"

    ingest(config, samples["day2"])  # clears
    r = cli(config, "alerts", "close", aid, "--note", "已核查，系燃放烟花爆竹", "--by", "李四")
    assert r.exit_code == 0, r.output
    assert listed(config) == []
    [closed] = listed(config, "--all")
    assert closed["status"] == "closed" and closed["close_note"] == "已核查，系燃放烟花爆竹"
    r = cli(config, "alerts", "close", aid, "--note", "again")
    assert r.exit_code == 2 and "already closed" in r.output
    shown = cli(config, "alerts", "show", aid).output
    assert "— closed" in shown and "交办镇海分局核查" in shown and "已核查，系燃放烟花爆竹" in shown
    assert "hook opened: ok" in shown and "李四" in shown

    with Store.readonly(loaded.store_path) as store:
        steps = [s for (s,) in store.conn.execute("SELECT step FROM alert_steps ORDER BY id")]
        problems = problem_list(store.conn, today, today, tz=loaded.tz)
    assert steps[0] == "opened" and "acknowledged" in steps and steps[-1] == "closed"
    assert [p.id for p in problems.closed] == [alert["id"]] and problems.open == []
    assert problems.closed[0].handled_by == "李四"
    html = _environment().get_template("problems.html.j2").render(problems=problems)
    assert "问题清单" in html and "已销号" in html and "龙赛医院" in html


def test_secrets_never_reach_the_store(
    make_config: Callable[..., Path], receiver: Receiver, samples: dict[str, Path]
) -> None:
    config = make_config()
    receiver.status = 500
    ingest(config, samples["day2_to21"], Path("/nonexistent/china_sites_20190103.csv"))
    receiver.status = 200
    cli(config, "alerts", "run")
    assert any(TOKEN in unquote(p["path"]) for p in receiver.posts)  # sent where it belongs
    loaded = load_config(config)
    for suffix in ("", "-wal"):
        p = Path(str(loaded.store_path) + suffix)
        if p.exists():
            assert TOKEN.encode() not in p.read_bytes()


def test_list_on_a_store_without_alerts(make_config: Callable[..., Path]) -> None:
    config = make_config(rules="    []")
    cli(config, "init")
    assert listed(config) == []
    assert cli(config, "alerts", "list").output.strip() == "no alerts"


def test_daily_category_rule(
    make_config: Callable[..., Path], receiver: Receiver, samples: dict[str, Path]
) -> None:
    rules = "    - {id: day-good, kind: air_daily_category, worse_than: 优, sites: [1236A], notify: [hook]}\n"
    config = make_config(rules=rules)
    ingest(config, samples["day1"], samples["day2"])
    [body] = receiver.bodies()
    assert body["kind"] == "air_daily_category" and body["subject"] == "1236A"
    assert "劣于优" in body["detail"]
    assert date(2019, 1, 1).isoformat() in body["detail"] or "2019-01-02" in body["detail"]


@pytest.mark.slow  # two chunked runs through the whole pipeline: about 7 s on 2 busy cores
def test_a_backfill_checks_alerts_once_at_its_end(
    make_config: Callable[..., Path],
    receiver: Receiver,
    samples: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import envwatch.alerts
    from envwatch.pipeline import backfill

    from faultserver import FaultServer, Reply

    passes: list[int] = []
    real = envwatch.alerts.run_alerts

    def counted(*args: Any, **kwargs: Any) -> Any:
        passes.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(envwatch.alerts, "run_alerts", counted)
    config = make_config()
    with FaultServer() as server:
        for key, day in (("day1", "20190101"), ("day2", "20190102")):
            body = samples[key].read_bytes()
            server.script(f"/air/china_sites_{day}.csv", then=Reply(200, body=body))
        text = config.read_text(encoding="utf-8").replace(
            "https://quotsoft.net/air/data/china_sites_{date:%Y%m%d}.csv",
            server.url("/air/china_sites_{date:%Y%m%d}.csv"),
        )
        config.write_text(text, encoding="utf-8")
        results = backfill(
            load_config(config), "cnemc-air-archive", date(2019, 1, 1), date(2019, 1, 2),
            chunk_days=1,
        )  # fmt: skip
    assert [r.status for r in results] == ["ok", "ok"]
    assert passes == [1]
    assert [(b["rule"], b["event"]) for b in receiver.bodies()] == [
        ("aqi-high", "opened"),
        ("aqi-high", "cleared"),
    ]
