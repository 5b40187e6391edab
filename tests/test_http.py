"""The shared HTTP client against a real server on 127.0.0.1: retries, limits, secrets (issue 5).

Sleeping is injected (`FakeTime`) so that backoff and Retry-After are checked without waiting;
only the read-timeout and real rate-limit tests wait, for well under a second each.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote, quote_plus

import pytest

from envwatch.errors import ConfigError, FetchError
from envwatch.http import (
    HttpClient,
    HttpPolicy,
    expand,
    parse_duration,
    parse_retry_after,
    policy_from_config,
    redact,
)

from faultserver import FaultServer, Reply, refused_url


class FakeTime:
    """A clock that only moves when slept on; records every sleep (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def fast_policy(**overrides: object) -> HttpPolicy:
    """A policy with short timeouts for tests; backoff still real-sized (sleeps are fake)."""
    values: dict[str, object] = {"connect_timeout": 2.0, "read_timeout": 5.0}
    values.update(overrides)
    return HttpPolicy(**values)  # type: ignore[arg-type]


def client_for(fake: FakeTime, **overrides: object) -> HttpClient:
    return HttpClient(
        fast_policy(**overrides), sleep=fake.sleep, clock=fake.clock, rng=random.Random(5)
    )


def test_503_twice_then_success_returns_the_body_after_jittered_backoff(server, fake):
    server.script("/feed", Reply(503), Reply(503), Reply(200, body=b"payload"))
    with client_for(fake, backoff_base=2.0) as client:
        assert client.get(server.url("/feed")) == b"payload"
        stats = client.fetch_stats
    assert len(server.requests_to("/feed")) == 3
    # Equal jitter: retry n waits between half and all of base * 2**(n-1).
    assert len(fake.sleeps) == 2
    assert 1.0 <= fake.sleeps[0] <= 2.0
    assert 2.0 <= fake.sleeps[1] <= 4.0
    assert (stats.requests, stats.retries, dict(stats.failures)) == (3, 2, {"http_503": 2})
    assert stats.as_dict()["failures"] == {"http_503": 2}


def test_backoff_is_capped_by_backoff_max(server, fake):
    server.script("/feed", *[Reply(500)] * 5, Reply(200, body=b"ok"))
    with client_for(fake, retries=5, backoff_base=10.0, backoff_max=15.0) as client:
        assert client.get(server.url("/feed")) == b"ok"
    assert max(fake.sleeps) <= 15.0
    assert all(s >= 5.0 for s in fake.sleeps)


def test_429_retry_after_seconds_is_honoured(server, fake):
    server.script("/feed", Reply(429, {"Retry-After": "7"}), Reply(200, body=b"ok"))
    with client_for(fake, backoff_base=0.01) as client:
        assert client.get(server.url("/feed")) == b"ok"
    assert fake.sleeps == [7.0]


def test_503_retry_after_http_date_is_read_against_the_server_date(server, fake):
    # The server's clock runs an hour ahead of ours: only its own Date header makes sense.
    server_now = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    headers = {
        "Date": format_datetime(server_now, usegmt=True),
        "Retry-After": format_datetime(server_now + timedelta(seconds=30), usegmt=True),
    }
    server.script("/feed", Reply(503, headers), Reply(200, body=b"ok"))
    with client_for(fake, backoff_base=0.01) as client:
        assert client.get(server.url("/feed")) == b"ok"
    assert len(fake.sleeps) == 1
    assert 30.0 <= fake.sleeps[0] <= 30.01


def test_retry_after_beyond_the_bound_gives_up_at_once_with_a_clear_error(server, fake):
    server.script("/feed", Reply(429, {"Retry-After": "3600"}), then=Reply(200))
    with client_for(fake, retry_after_max=300.0) as client:
        with pytest.raises(FetchError) as info:
            client.get(server.url("/feed"))
        assert client.fetch_stats.gave_up == {"retry_after_too_long": 1}
    err = info.value
    assert (err.status_code, err.retryable, err.retry_after) == (429, True, 3600.0)
    assert "3600 s" in str(err) and "retry_after_max" in str(err)
    assert fake.sleeps == []
    assert len(server.requests_to("/feed")) == 1


def test_connection_refused_is_retried_then_reported(fake):
    url, reserved = refused_url("/feed")
    try:
        with client_for(fake, retries=2) as client:
            with pytest.raises(FetchError) as info:
                client.get(url)
            stats = client.fetch_stats
    finally:
        reserved.close()
    err = info.value
    assert err.retryable and err.status_code is None and err.url == url
    assert "gave up after 3 attempts" in str(err) and "cannot connect" in str(err)
    assert dict(stats.failures) == {"connect_error": 3}
    assert len(fake.sleeps) == 2


def test_read_timeout_is_retried(server, fake):
    server.script("/slow", Reply(200, body=b"late", delay=1.0), Reply(200, body=b"ok"))
    started = time.monotonic()
    with client_for(fake, read_timeout=0.3) as client:
        assert client.get(server.url("/slow")) == b"ok"
        assert dict(client.fetch_stats.failures) == {"read_timeout": 1}
    assert time.monotonic() - started < 1.0


def test_read_timeout_every_time_fails_retryable(server, fake):
    server.script("/slow", then=Reply(200, body=b"late", delay=1.0))
    with client_for(fake, read_timeout=0.2, retries=1) as client, pytest.raises(FetchError) as info:
        client.get(server.url("/slow"))
    assert info.value.retryable
    assert "timed out waiting for data" in str(info.value)


def test_truncated_body_is_retried_not_returned(server, fake):
    server.script("/feed", Reply(200, body=b"x" * 1000, truncate=10), Reply(200, body=b"complete"))
    with client_for(fake) as client:
        assert client.get(server.url("/feed")) == b"complete"
        assert dict(client.fetch_stats.failures) == {"protocol_error": 1}


def test_truncated_body_every_time_never_looks_like_a_result(server, fake):
    server.script("/feed", then=Reply(200, body=b"x" * 1000, truncate=10))
    with client_for(fake, retries=1) as client, pytest.raises(FetchError) as info:
        client.get(server.url("/feed"))
    assert info.value.retryable and "cut short" in str(info.value)


def test_dropped_connection_is_retried(server, fake):
    server.script("/feed", Reply(drop=True), Reply(200, body=b"ok"))
    with client_for(fake) as client:
        assert client.get(server.url("/feed")) == b"ok"


def test_404_is_not_retried(server, fake):
    server.script("/missing", then=Reply(404, body=b"no such station"))
    with client_for(fake) as client:
        with pytest.raises(FetchError) as info:
            client.get(server.url("/missing"))
        assert client.fetch_stats.gave_up == {"not_retryable": 1}
    err = info.value
    assert (err.status_code, err.retryable) == (404, False)
    assert "no such station" in str(err)  # the server's own explanation reaches staff
    assert len(server.requests_to("/missing")) == 1
    assert fake.sleeps == []


def test_post_form_data_and_params_reach_the_server(server, fake):
    server.script("/api", Reply(200, body=b"{}"))
    with client_for(fake) as client:
        body = client.post(server.url("/api"), data={"city": "宁波", "page": "2"}, params={"v": 1})
    assert body == b"{}"
    (request,) = server.requests_to("/api")
    assert request.method == "POST"
    assert request.form() == {"city": ["宁波"], "page": ["2"]}
    assert request.query == {"v": ["1"]}
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_user_agent_names_envwatch(server, fake):
    server.script("/feed", Reply(200))
    with client_for(fake) as client:
        client.get(server.url("/feed"))
    agent = server.requests[0].headers["User-Agent"]
    assert agent.startswith("envwatch/") and "environmental monitoring" in agent


def test_rate_limit_spaces_request_starts(server, fake):
    server.script("/feed", then=Reply(200, body=b"ok"))
    with client_for(fake, min_interval=2.5) as client:
        for _ in range(3):
            client.get(server.url("/feed"))
    assert fake.sleeps == [2.5, 2.5]


def test_rate_limit_counts_backoff_already_waited(server, fake):
    server.script("/feed", Reply(503), Reply(200))
    with client_for(fake, min_interval=0.5, backoff_base=4.0) as client:
        client.get(server.url("/feed"))
    assert len(fake.sleeps) == 1  # the backoff (2-4 s) already exceeds the interval


def test_rate_limit_with_the_real_clock(server, monkeypatch):
    server.script("/feed", then=Reply(200, body=b"ok"))
    starts: list[float] = []
    with HttpClient(fast_policy(min_interval=0.15)) as client:
        send = client._client.send

        def timed_send(request, **options):  # when each request really leaves the client
            starts.append(time.monotonic())
            return send(request, **options)

        monkeypatch.setattr(client._client, "send", timed_send)
        for _ in range(3):
            client.get(server.url("/feed"))
    assert len(server.requests_to("/feed")) == 3
    # Measured on the client: the server's arrival times add a busy machine's scheduling noise.
    assert all(b - a >= 0.149 for a, b in zip(starts, starts[1:], strict=False))


def test_run_budget_stops_retrying(server, fake, caplog):
    server.script("/feed", then=Reply(503))
    with client_for(fake, retries=10, backoff_base=4.0, run_budget=20.0) as client:
        with pytest.raises(FetchError) as info:
            client.get(server.url("/feed"))
        assert client.fetch_stats.gave_up == {"budget_spent": 1}
        assert client.budget_left() > 0
    err = info.value
    assert err.retryable and err.status_code == 503
    assert "time budget of 20 s is spent" in str(err)
    assert sum(fake.sleeps) < 20.0
    assert len(server.requests_to("/feed")) < 11
    assert "run time budget spent" in caplog.text


def test_run_budget_is_shared_by_all_requests_of_a_run(server, fake):
    server.script("/a", then=Reply(200))
    with client_for(fake, run_budget=10.0, min_interval=4.0) as client:
        client.get(server.url("/a"))
        client.get(server.url("/a"))
        client.get(server.url("/a"))
        with pytest.raises(FetchError, match="time budget"):
            client.get(server.url("/a"))
    assert len(server.requests_to("/a")) == 3


SECRET = "s3cr3t/K+y=&?"
TOKEN = "tok-9f8e7d"


def _forms(value: str) -> list[str]:
    return [value, quote(value, safe=""), quote_plus(value)]


def test_secrets_are_sent_but_never_logged_raised_or_shown(server, fake, caplog):
    caplog.set_level(logging.DEBUG)  # httpx and httpcore too
    server.script("/x", then=Reply(500, body=b"internal error"))
    secrets = {"API_KEY": SECRET, "TOKEN": TOKEN}
    with HttpClient(
        fast_policy(retries=1), secrets=secrets, sleep=fake.sleep, clock=fake.clock
    ) as client:
        with pytest.raises(FetchError) as info:
            client.get(
                server.url("/x?tk={API_KEY}"),
                params={"token": "{TOKEN}"},
                headers={"Authorization": "Bearer {TOKEN}"},
            )
        shown = repr(client)
    # The server got the real values, the URL's own query kept beside `params` (httpx alone
    # would drop it)...
    request = server.requests_to("/x")[0]
    assert request.query == {"tk": [SECRET], "token": [TOKEN]}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    # ...nobody else did.
    err = info.value
    exposed = [str(err), err.url or "", shown] + [r.getMessage() for r in caplog.records]
    for text in exposed:
        for value in _forms(SECRET) + [TOKEN]:
            assert value not in text
    assert err.url is not None and "tk={API_KEY}" in err.url and "token={TOKEN}" in err.url
    assert any(r.name == "httpx" and "{API_KEY}" in r.getMessage() for r in caplog.records)


def test_every_attempt_is_logged_with_the_url_redacted(server, fake, caplog):
    caplog.set_level(logging.INFO, logger="envwatch.http")
    server.script("/x", Reply(503), Reply(200))
    with HttpClient(
        fast_policy(), secrets={"K": SECRET}, sleep=fake.sleep, clock=fake.clock
    ) as client:
        client.get(server.url("/x?k={K}"))
    ours = [r for r in caplog.records if r.name == "envwatch.http"]
    assert [r.levelname for r in ours] == ["WARNING", "INFO"]
    assert all("/x?k={K}" in r.getMessage() for r in ours)
    assert "attempt 1/5" in ours[0].getMessage() and "attempt 2/5" in ours[1].getMessage()


def test_missing_secret_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"\{TIANDITU_KEY\}"):
        expand("https://api.example/x?tk={TIANDITU_KEY}", {})


def test_expand_and_redact_round_trip():
    url = expand("https://api.example/x?tk={KEY}", {"KEY": SECRET})
    assert url == f"https://api.example/x?tk={quote(SECRET, safe='')}"
    assert redact(url, {"KEY": SECRET}) == "https://api.example/x?tk={KEY}"
    assert redact(f"raw {SECRET} plus {quote_plus(SECRET)}", {"KEY": SECRET}) == (
        "raw {KEY} plus {KEY}"
    )
    assert redact("nothing to hide", {"EMPTY": ""}) == "nothing to hide"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1h30m", 5400.0), ("250ms", 0.25),
     (45, 45.0), (0.5, 0.5), ("12", 12.0)],
)  # fmt: skip
def test_parse_duration(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["5x", "", "-3s", "m", True, "1h 30"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_policy_from_config_reads_human_durations():
    policy = policy_from_config(
        {"read_timeout": "2m", "run_budget": "1h", "min_interval": 1, "retries": 2}
    )
    assert (policy.read_timeout, policy.run_budget, policy.min_interval) == (120.0, 3600.0, 1.0)
    assert policy.retries == 2 and policy.connect_timeout == 10.0


def test_policy_from_config_names_the_bad_key():
    with pytest.raises(ConfigError, match=r"http\.read_timeout: '5 minutes'"):
        policy_from_config({"read_timeout": "5 minutes"})
    with pytest.raises(ConfigError, match="unknown setting timeout"):
        policy_from_config({"timeout": "5s"})


def test_parse_retry_after_forms():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", now=now) == 120.0
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_default_policy():
    policy = HttpPolicy()
    assert (policy.connect_timeout, policy.read_timeout, policy.retries) == (10.0, 60.0, 4)
    assert policy.user_agent.startswith("envwatch/")
