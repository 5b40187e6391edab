"""The retry policy alone, without a network (issue 16): which failures are retried, how long to
wait, Retry-After as a floor, and the run budget as a cap. Durations in seconds."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from envwatch.retry import Decision, Failure, RetryPolicy, classify_exception, parse_retry_after

POLICY = RetryPolicy(retries=3, backoff_base=2.0, backoff_max=10.0, retry_after_max=300.0)


def failure(status: int, retry_after: float | None = None) -> Failure:
    return Failure(f"http_{status}", f"HTTP {status}", status == 429 or status >= 500, status,
                   retry_after)  # fmt: skip


@pytest.mark.parametrize(
    ("outcome", "retried"),
    [(503, True), (500, True), (429, True), (404, False), (400, False), (401, False),
     (httpx.ConnectError("refused"), True), (httpx.ReadTimeout("slow"), True),
     (httpx.RemoteProtocolError("cut short"), True), (httpx.InvalidURL("bad"), False),
     (httpx.TooManyRedirects("loop"), False)],
)  # fmt: skip
def test_should_retry_by_status_or_exception(outcome: int | Exception, retried: bool) -> None:
    assert POLICY.should_retry(outcome, 1) is retried


def test_should_retry_stops_after_the_last_retry() -> None:
    assert [POLICY.should_retry(503, n) for n in (1, 2, 3, 4)] == [True, True, True, False]


def test_backoff_doubles_between_half_and_all_of_the_step_and_is_capped() -> None:
    # base 2 s: steps 2, 4, 8, then 10 (backoff_max); equal jitter: half to all of each step.
    assert [POLICY.backoff(n, jitter=0.0) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert [POLICY.backoff(n, jitter=1.0) for n in (1, 2, 3, 4, 5)] == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_retry_after_is_a_floor_not_a_ceiling() -> None:
    assert POLICY.backoff(1, retry_after=30.0, jitter=0.5) == 30.0
    assert POLICY.backoff(3, retry_after=0.5, jitter=1.0) == 8.0


def test_decide_honours_retry_after_in_seconds_and_as_a_date() -> None:
    server_now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    seconds = parse_retry_after("Wed, 02 Dec 2026 12:00:45 GMT", now=server_now)
    assert seconds == 45.0
    decision = POLICY.decide(failure(503, seconds), 1, time_left=600.0, jitter=0.0)
    assert decision == Decision(True, 45.0)
    assert POLICY.decide(failure(429, 7.0), 1, time_left=600.0, jitter=0.0).wait == 7.0


def test_decide_gives_up_for_each_reason() -> None:
    assert POLICY.decide(failure(404), 1, time_left=600.0).reason == "not_retryable"
    assert POLICY.decide(failure(429, 3600.0), 1, time_left=1e9).reason == "retry_after_too_long"
    assert POLICY.decide(failure(503), 4, time_left=600.0).reason == "retries_exhausted"
    # the wait would end past the run budget: no sleep is begun
    spent = POLICY.decide(failure(503, 120.0), 1, time_left=100.0)
    assert (spent.retry, spent.reason, spent.wait) == (False, "budget_spent", 120.0)
    assert POLICY.decide(failure(503), 1, time_left=1.5, jitter=0.0).retry is True


def test_a_policy_is_frozen() -> None:
    with pytest.raises(AttributeError):
        POLICY.retries = 9  # type: ignore[misc]


def test_classified_exceptions_name_their_cause() -> None:
    assert classify_exception(httpx.ConnectTimeout("t")).cause == "connect_timeout"
    assert classify_exception(httpx.ReadTimeout("t")).detail == "timed out waiting for data"
    refused = classify_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    assert refused.detail == "cannot connect ([Errno 111] Connection refused)"
