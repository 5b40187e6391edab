"""When to try a request again, and how long to wait: a pure policy, testable without a network.

`RetryPolicy` decides; `envwatch.http.HttpClient` obeys. All durations are in seconds.

- Retried (``retryable``): connection errors (refused, reset, DNS), connect/read/write/pool
  timeouts, a response cut short (httpx's ``RemoteProtocolError``), an undecodable body, any
  5xx, and 429.
- Not retried: any other 4xx (the request itself is wrong: URL, key, parameters), 1xx/3xx
  left after redirects, an invalid URL, too many redirects, a redirect refused because it would
  carry a secret to another site, a response that echoes a secret.
- At most ``retries`` retries, i.e. ``retries + 1`` attempts.
- Backoff is exponential with *equal jitter*: before retry ``n`` (1, 2, ...) the wait is
  ``cap / 2 + jitter * cap / 2`` with ``cap = min(backoff_max, backoff_base * 2 ** (n - 1))``
  and ``jitter`` uniform in [0, 1]. Equal rather than full jitter so that a struggling server
  always gets at least half the nominal pause, while clients that failed together spread out.
- ``Retry-After`` (seconds, or an HTTP-date read against the response's own ``Date`` header so
  that clock skew does not matter) is a floor: the wait is ``max(retry_after, backoff)``. A
  server asking for more than ``retry_after_max`` gets no retry (``retry_after_too_long``): the
  next scheduled run tries again instead of this one sleeping for hours.
- The run budget caps it all: a wait that would end at or after the time left is not begun
  (``budget_spent``).

We keep this policy rather than stamina or tenacity: both would still need our failure
classification, the Retry-After date read against the server's clock, the refusal of long
Retry-After values and per-attempt timeouts cut to the run budget; what they would replace is
the ten lines of `RetryPolicy.decide`.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from envwatch.redaction import redact

__all__ = ["Decision", "Failure", "RetryPolicy", "classify_exception", "parse_retry_after"]


@dataclass(frozen=True)
class Failure:
    """One failed attempt: a `cause` for the stats (``http_503``, ``read_timeout`` ...), a
    `detail` for staff (redacted), whether retrying may help, and what the server said."""

    cause: str
    detail: str
    retryable: bool
    status_code: int | None = None
    retry_after: float | None = None
    hint: str = ""


@dataclass(frozen=True)
class Decision:
    """What to do after a failed attempt: retry after `wait` seconds, or give up for `reason`
    (``not_retryable``, ``retry_after_too_long``, ``retries_exhausted``, ``budget_spent``)."""

    retry: bool
    wait: float = 0.0
    reason: str = ""


def is_retryable(outcome: int | BaseException | Failure) -> bool:
    """Whether an HTTP status, an httpx exception or a classified failure is worth a retry."""
    if isinstance(outcome, Failure):
        return outcome.retryable
    if isinstance(outcome, int):
        return outcome == 429 or outcome >= 500
    return classify_exception(outcome).retryable


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry (see the module docstring). Seconds throughout."""

    retries: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 300.0

    def should_retry(self, outcome: int | BaseException | Failure, attempt: int) -> bool:
        """Whether to try again after `attempt` (1, 2, ...) attempts ended in `outcome`."""
        return attempt <= self.retries and is_retryable(outcome)

    def backoff(
        self, attempt: int, retry_after: float | None = None, *, jitter: float = 1.0
    ) -> float:
        """Seconds to wait before retry number `attempt` (1, 2, ...), at least `retry_after`.

        `jitter` in [0, 1] picks a point between half and all of the capped exponential step.
        """
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return max(cap / 2 + jitter * cap / 2, retry_after or 0.0)

    def decide(
        self, failure: Failure, attempt: int, *, time_left: float, jitter: float = 1.0
    ) -> Decision:
        """Retry or give up after `attempt` attempts, the last of which ended in `failure`,
        with `time_left` seconds of the run budget."""
        if not failure.retryable:
            return Decision(False, reason="not_retryable")
        if failure.retry_after is not None and failure.retry_after > self.retry_after_max:
            return Decision(False, reason="retry_after_too_long")
        if attempt > self.retries:
            return Decision(False, reason="retries_exhausted")
        wait = self.backoff(attempt, failure.retry_after, jitter=jitter)
        if wait >= time_left:
            return Decision(False, wait, reason="budget_spent")
        return Decision(True, wait)


#: httpx exceptions worth another attempt, most specific first: (class, cause, what happened).
_RETRYABLE: tuple[tuple[type[Exception], str, str], ...] = (
    (httpx.ConnectTimeout, "connect_timeout", "timed out connecting"),
    (httpx.ReadTimeout, "read_timeout", "timed out waiting for data"),
    (httpx.WriteTimeout, "write_timeout", "timed out sending the request"),
    (httpx.PoolTimeout, "pool_timeout", "timed out waiting for a free connection"),
    (httpx.ConnectError, "connect_error", "cannot connect ({})"),
    (httpx.RemoteProtocolError, "protocol_error", "response cut short or malformed ({})"),
    (httpx.ProxyError, "proxy_error", "proxy failed ({})"),
    (httpx.NetworkError, "network_error", "connection failed ({})"),
    (httpx.DecodingError, "decoding_error", "body cannot be decoded ({})"),
)
#: httpx exceptions another attempt cannot mend (none is a subclass of a retryable one).
_FINAL: tuple[tuple[type[Exception], str, str], ...] = (
    (httpx.TooManyRedirects, "too_many_redirects", "too many redirects"),
    (httpx.UnsupportedProtocol, "invalid_url", "invalid URL ({})"),
    (httpx.InvalidURL, "invalid_url", "invalid URL ({})"),
)


def classify_exception(exc: BaseException) -> Failure:
    """The `Failure` of an exception raised while sending or reading; its text redacted."""
    text = redact(str(exc)) or "no detail"
    for table, retryable in ((_FINAL, False), (_RETRYABLE, True)):
        for cls, cause, what in table:
            if isinstance(exc, cls):
                return Failure(cause, what.format(text), retryable)
    retryable = isinstance(exc, httpx.TransportError) and not isinstance(
        exc, httpx.LocalProtocolError
    )
    return Failure("http_error", f"{type(exc).__name__}: {text}", retryable)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date.

    An HTTP-date is measured from `now` (aware; default: the current UTC time); pass the
    response's ``Date`` so that the server's clock is compared with itself. Returns None when
    absent or unreadable; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    when = parse_http_date(text)
    if when is None:
        return None
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def parse_http_date(text: str | None) -> datetime | None:
    """An aware datetime from an HTTP-date (``Date``, ``Retry-After``); None if unreadable."""
    if not text:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
