"""Delivering alert messages: webhook robots (DingTalk, WeCom, Feishu), a JSON envelope, e-mail.

Webhooks go through `envwatch.http.HttpClient` (its retry policy, timeouts and redaction: the
URL's ``{NAME}`` secrets are filled only in what is sent). Bodies:

- ``dingtalk``: ``{"msgtype": "text", "text": {"content": ...}}``; with ``secret`` the URL gets
  ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")),
  URL-encoded. Success is ``errcode`` 0.
- ``wecom``: ``{"msgtype": "text", "text": {"content": ...}}``; success is ``errcode`` 0.
- ``feishu``: ``{"msg_type": "text", "content": {"text": ...}}``; with ``secret`` the body also
  has ``timestamp`` (s) and ``sign`` = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")).
  Success is ``code`` (or ``StatusCode``) 0.
- ``json``: the envelope of `envelope` (README, "Alerts"); any 2xx is success.

E-mail: SMTP with STARTTLS (``starttls: true``, port 587) or implicit TLS (``ssl: true``, port
465), login when a password is configured; one attempt per run, the next run retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote_plus

from envwatch.config import AlertChannel
from envwatch.errors import ConfigError, FetchError
from envwatch.http import HttpClient, expand, policy_from_config, redact

# Alerts must not hold up a run for long: fewer retries and a shorter budget than a source,
# unless the channel's own `http:` says otherwise.
DEFAULT_HTTP = {"retries": 2, "backoff_base": "1s", "read_timeout": "20s", "run_budget": "90s"}
SMTP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Message:
    """One alert message: `text` (Chinese, several lines) for robots and mail, `data` for the
    JSON envelope."""

    title: str
    text: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What a channel said: ok or not, and its answer or the error (secrets redacted)."""

    ok: bool
    answer: str


def channel_secrets(channel: AlertChannel) -> dict[str, str]:
    """The channel's secrets from the environment variables it names."""
    values = {name: os.environ.get(name, "") for name in channel.secrets}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ConfigError(
            f"alert channel '{channel.name}' needs the environment variable(s) "
            f"{', '.join(missing)}; set them in the environment of the cron job or service, "
            "never in stations.yaml"
        )
    return values


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk robot signature: base64 HMAC-SHA256 of "timestamp\\nsecret" keyed by the secret
    (not URL-encoded)."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu (Lark) robot signature: base64 HMAC-SHA256 keyed by "timestamp\\nsecret" of an
    empty message."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook_body(fmt: str, message: Message, *, sign: tuple[int, str] | None = None) -> bytes:
    """The POST body of a webhook of format `fmt` (UTF-8 JSON)."""
    body: dict[str, Any]
    if fmt in ("dingtalk", "wecom"):
        body = {"msgtype": "text", "text": {"content": message.text}}
    elif fmt == "feishu":
        body = {"msg_type": "text", "content": {"text": message.text}}
        if sign is not None:
            body = {"timestamp": str(sign[0]), "sign": sign[1], **body}
    else:
        body = message.data
    return json.dumps(body, ensure_ascii=False).encode()


def _secret_value(channel: AlertChannel, template: str | None, secrets: Mapping[str, str]) -> str:
    if not template:
        return ""
    name = template.strip("{}")
    return secrets.get(name, "")


def send(
    channel: AlertChannel,
    message: Message,
    *,
    now: float | None = None,
    sleep: Any = time.sleep,
) -> Outcome:
    """Send `message` through `channel`; never raises for a delivery problem."""
    try:
        secrets = channel_secrets(channel)
    except ConfigError as e:
        return Outcome(False, str(e))
    if channel.kind == "email":
        return _send_mail(channel, message, secrets)
    return _send_webhook(channel, message, secrets, now=now, sleep=sleep)


def _send_webhook(
    channel: AlertChannel,
    message: Message,
    secrets: dict[str, str],
    *,
    now: float | None,
    sleep: Any,
) -> Outcome:
    assert channel.url is not None
    now = time.time() if now is None else now
    url = channel.url
    sign: tuple[int, str] | None = None
    secret = _secret_value(channel, channel.secret, secrets)
    if secret and channel.format == "dingtalk":
        ts = int(now * 1000)
        url += ("&" if "?" in url else "?") + (
            f"timestamp={ts}&sign={quote_plus(dingtalk_sign(secret, ts))}"
        )
    elif secret and channel.format == "feishu":
        ts = int(now)
        sign = (ts, feishu_sign(secret, ts))
    policy = policy_from_config({**DEFAULT_HTTP, **channel.http})
    body = webhook_body(channel.format, message, sign=sign)
    try:
        with HttpClient(policy, secrets=secrets, sleep=sleep) as client:
            answer = client.post(
                url, data=body, headers={"Content-Type": "application/json; charset=utf-8"}
            )
    except FetchError as e:
        return Outcome(False, redact(str(e), secrets))
    except ConfigError as e:
        return Outcome(False, redact(str(e), secrets))
    text = redact(answer.decode("utf-8", "replace")[:500], secrets)
    return Outcome(_robot_ok(channel.format, answer), text)


def _robot_ok(fmt: str, answer: bytes) -> bool:
    """Robots answer HTTP 200 with an error code in the body: read it."""
    if fmt == "json":
        return True
    try:
        data = json.loads(answer)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    if fmt in ("dingtalk", "wecom"):
        return data.get("errcode") == 0
    return data.get("code", data.get("StatusCode")) == 0


def _send_mail(channel: AlertChannel, message: Message, secrets: dict[str, str]) -> Outcome:
    assert channel.smtp is not None and channel.from_ is not None
    host, _, port_text = channel.smtp.rpartition(":")
    port = int(port_text)
    password = (
        _secret_value(channel, channel.password, secrets)
        if channel.password
        else (secrets[channel.secrets[0]] if channel.secrets else "")
    )
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = channel.from_
    mail["To"] = ", ".join(channel.to)
    mail.set_content(message.text)
    try:
        smtp: smtplib.SMTP
        if channel.ssl:
            smtp = smtplib.SMTP_SSL(
                host, port, timeout=SMTP_TIMEOUT, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
        with smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if password:
                smtp.login(channel.username or channel.from_, password)
            refused = smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as e:
        return Outcome(False, redact(f"{channel.smtp}: {type(e).__name__}: {e}"[:500], secrets))
    if refused:
        return Outcome(False, f"refused recipients: {', '.join(refused)}")
    return Outcome(True, f"{channel.smtp}: accepted for {', '.join(channel.to)}")


def test_message(channel: AlertChannel, now: datetime | None = None) -> Message:
    """The message of `envwatch alerts test CHANNEL`."""
    now = now or datetime.now(UTC)
    text = (
        f"【envwatch 测试消息】通道 {channel.name}（{channel.kind}"
        f"{'，' + channel.format if channel.kind == 'webhook' else ''}）配置正确，能收到告警。\n"
        f"时间：{now:%Y-%m-%dT%H:%M:%SZ}"
    )
    data = {
        "envwatch": 1,
        "event": "test",
        "id": None,
        "rule": None,
        "kind": "test",
        "subject": channel.name,
        "subject_name": channel.name,
        "subject_type": "channel",
        "status": "test",
        "time": f"{now:%Y-%m-%dT%H:%M:%SZ}",
        "detail": "测试消息",
        "text": text,
    }
    return Message("envwatch 测试消息", text, data)


def shown_url(channel: AlertChannel) -> str:
    """The channel's address as messages show it (secrets as {NAME})."""
    if channel.kind == "email":
        return f"smtp://{channel.smtp}"
    assert channel.url is not None
    try:
        return redact(expand(channel.url, channel_secrets(channel)), channel_secrets(channel))
    except ConfigError:
        return channel.url
