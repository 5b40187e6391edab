"""One HTTP client for every source: timeouts, retries, a run budget, a rate limit, hidden secrets.

Every source fetches through `HttpClient`, built from an `HttpPolicy` (usually
`policy_from_config(source["http"])`). All durations are in seconds.

Retry rules, per call of `HttpClient.get` / `HttpClient.post`:

- Retried (``retryable``): connection errors (refused, reset, DNS), connect/read/write
  timeouts, a response cut short (``Content-Length`` not honoured, the peer closing mid-body:
  httpx's ``RemoteProtocolError``), an undecodable body, any 5xx, and 429.
- Not retried: any other 4xx (the request itself is wrong: URL, key, parameters), 1xx/3xx left
  after redirects are followed, an invalid or unsupported URL.
- At most ``policy.retries`` retries, i.e. ``retries + 1`` attempts.
- Backoff is exponential with *equal jitter*: before retry ``n`` (1, 2, ...) the client sleeps
  ``cap / 2 + uniform(0, cap / 2)`` with ``cap = min(backoff_max, backoff_base * 2 ** (n - 1))``.
  Equal rather than full jitter so that a struggling server always gets at least half the
  nominal pause, while clients that failed together still spread out.
- ``Retry-After`` (seconds, or an HTTP-date read against the response's own ``Date`` header so
  that clock skew does not matter) on any retryable response is a floor: the sleep is
  ``max(retry_after, backoff)``. A server asking for more than ``policy.retry_after_max`` gets
  no retry: the call raises a retryable `FetchError` carrying ``retry_after``, so the next
  scheduled run tries again instead of this one sleeping for hours.
- The run budget: ``policy.run_budget`` seconds from the client's first request for all its
  requests, sleeps included. No attempt starts and no sleep begins that would end past it; each
  attempt's timeouts are cut to what is left. When it is spent the call raises a retryable
  `FetchError` saying so. httpx's read timeout bounds each read, not a whole slow download, so
  one trickling response can still overrun the budget by up to that download's length.
- The rate limit: at least ``policy.min_interval`` seconds between the starts of consecutive
  attempts of the same client (retries included). Use one client per source.

Secrets (API keys, tokens) are resolved from environment variables by the caller and handed to
the client as ``{NAME: value}``; URLs, parameter values, header values and form values may name
them as ``{NAME}``. The client substitutes them only in what it sends: its log records (and
those of httpx and httpcore while it is open), its exceptions, `FetchError.url` and its
``repr`` show ``{NAME}`` instead. A client is meant to be used from one thread at a time.
"""

from __future__ import annotations

import email.utils
import importlib.metadata
import logging
import random
import re
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from envwatch.errors import ConfigError, FetchError

__all__ = [
    "FetchStats",
    "HttpClient",
    "HttpPolicy",
    "default_user_agent",
    "expand",
    "parse_duration",
    "parse_retry_after",
    "policy_from_config",
    "redact",
]

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: Loggers of the libraries underneath that may print a URL or headers: their records are
#: redacted with the secrets of every open client.
_LIBRARY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def default_user_agent() -> str:
    """``envwatch/<version> (+environmental monitoring ingester)``; version ``0`` if unknown."""
    try:
        version = importlib.metadata.version("envwatch")
    except importlib.metadata.PackageNotFoundError:
        version = "0"
    return f"envwatch/{version} (+environmental monitoring ingester)"


@dataclass
class HttpPolicy:
    """How one source is fetched. All durations are in seconds.

    `retries` is the number of retries after the first attempt; `run_budget` bounds the total
    time of all requests of one client (one run), sleeps included; `min_interval` is the least
    time between the starts of two consecutive requests (the source's rate limit).
    """

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 300.0
    run_budget: float = 1800.0
    min_interval: float = 0.0
    verify_tls: bool = True
    user_agent: str = field(default_factory=default_user_agent)


@dataclass
class FetchStats:
    """What one client went through, for the run ledger.

    `requests` counts attempts sent, `retries` the attempts after the first of a call,
    `failures` every failed attempt by cause (``http_503``, ``connect_error``, ``read_timeout``,
    ``protocol_error`` ...), `gave_up` the calls that raised `FetchError` by reason
    (``not_retryable``, ``retries_exhausted``, ``retry_after_too_long``, ``budget_spent``),
    `waited` the seconds slept for backoff and rate limiting.
    """

    requests: int = 0
    retries: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    gave_up: Counter[str] = field(default_factory=Counter)
    waited: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "requests": self.requests,
            "retries": self.retries,
            "failures": dict(self.failures),
            "gave_up": dict(self.gave_up),
            "waited": round(self.waited, 3),
        }


# --- secrets -------------------------------------------------------------------------------


def expand(url_template: str, secrets: Mapping[str, str] | None) -> str:
    """Fill the ``{NAME}`` placeholders of a URL with their secrets, percent-encoded.

    Raises `ConfigError` naming the placeholder when a secret is missing or empty.
    """
    secrets = secrets or {}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = secrets.get(name)
        if not value:
            known = ", ".join(sorted(secrets)) or "none"
            raise ConfigError(
                f"the URL needs the secret {{{name}}} but it has no value (secrets given: "
                f"{known}); name the environment variable that holds it in stations.yaml "
                "and set that variable"
            )
        return quote(value, safe="")

    return _PLACEHOLDER.sub(fill, url_template)


def redact(text: str, secrets: Mapping[str, str] | None) -> str:
    """Replace every secret value in `text` by ``{NAME}``.

    Catches the raw value and its percent-encoded forms (as in a URL path, query or form body).
    Empty values are ignored.
    """
    return _redact_pairs(text, (secrets or {}).items())


def _secret_forms(value: str) -> set[str]:
    return {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        quote(value),
        quote_plus(value),
    }


def _redact_pairs(text: str, pairs: Iterable[tuple[str, str]]) -> str:
    forms: list[tuple[str, str]] = []
    for name, value in pairs:
        if value:
            forms.extend((form, name) for form in _secret_forms(value))
    # Longest first, so that a secret containing another is replaced whole.
    for form, name in sorted(forms, key=lambda item: len(item[0]), reverse=True):
        text = text.replace(form, "{" + name + "}")
    return text


def _fill_raw(text: str, secrets: Mapping[str, str]) -> str:
    """Fill known ``{NAME}`` placeholders with raw values (httpx encodes params and forms)."""
    if not secrets or "{" not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: secrets.get(m.group(1)) or m.group(0), text)


_LIVE_CLIENTS: weakref.WeakSet[HttpClient] = weakref.WeakSet()


class _RedactingFilter(logging.Filter):
    """Rewrites httpx/httpcore records so that no open client's secret reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        pairs = [pair for client in list(_LIVE_CLIENTS) for pair in client._secrets.items()]
        if pairs:
            message = record.getMessage()
            cleaned = _redact_pairs(message, pairs)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactingFilter()


def _install_library_filter() -> None:
    for name in _LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        if _FILTER not in library_logger.filters:
            library_logger.addFilter(_FILTER)


# --- configuration ---------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_FIELDS = {
    "connect_timeout",
    "read_timeout",
    "backoff_base",
    "backoff_max",
    "retry_after_max",
    "run_budget",
    "min_interval",
}


def parse_duration(value: str | float | int) -> float:
    """Seconds from a number of seconds or a text like ``30s``, ``5m``, ``2h``, ``1h30m``, ``250ms``.

    Raises `ValueError` on anything else, including negative durations and booleans.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            compact = text.replace(" ", "")
            parts = _DURATION_PART.findall(compact)
            if not parts or "".join(n + u for n, u in parts) != compact:
                raise ValueError(f"{value!r} is not a duration") from None
            seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
    else:
        raise ValueError(f"{value!r} is not a duration")
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        raise ValueError(f"{value!r} is not a duration")
    return seconds


def policy_from_config(d: Mapping[str, Any]) -> HttpPolicy:
    """An `HttpPolicy` from a source's ``http:`` mapping in stations.yaml.

    Keys are the field names of `HttpPolicy`; durations are numbers of seconds or texts such as
    ``30s``, ``5m``, ``2h``. Missing keys keep their defaults. Raises `ConfigError` naming the
    key and the fix.
    """
    names = {f.name for f in fields(HttpPolicy)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(
            f"http: unknown setting {', '.join(unknown)}; allowed: {', '.join(sorted(names))}"
        )
    values: dict[str, Any] = {}
    for key, value in d.items():
        if key in _DURATION_FIELDS:
            try:
                values[key] = parse_duration(value)
            except ValueError:
                raise ConfigError(
                    f"http.{key}: {value!r} is not a duration; write e.g. 30s, 5m, 2h "
                    "or a number of seconds"
                ) from None
        elif key == "retries":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"http.retries: {value!r} must be a whole number, 0 or more")
            values[key] = value
        elif key == "verify_tls":
            if not isinstance(value, bool):
                raise ConfigError(f"http.verify_tls: {value!r} must be true or false")
            values[key] = value
        elif key == "user_agent":
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"http.user_agent: {value!r} must be a non-empty text")
            values[key] = value
    return HttpPolicy(**values)


# --- Retry-After -----------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date.

    An HTTP-date is measured from `now` (aware; default: the current UTC time); pass the
    response's ``Date`` so that the server's clock is compared with itself. Returns None when
    absent or unreadable; a date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    when = _parse_http_date(text)
    if when is None:
        return None
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def _parse_http_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


# --- the client ------------------------------------------------------------------------------


@dataclass
class _Failure:
    """One failed attempt."""

    cause: str
    detail: str
    retryable: bool
    status_code: int | None = None
    retry_after: float | None = None


def _transport_failure(exc: Exception, secrets: Mapping[str, str]) -> _Failure:
    """Classify an httpx exception raised while sending or reading."""
    text = redact(str(exc), secrets) or "no detail"
    retryable = True
    if isinstance(exc, httpx.ConnectTimeout):
        cause, detail = "connect_timeout", "timed out connecting"
    elif isinstance(exc, httpx.ReadTimeout):
        cause, detail = "read_timeout", "timed out waiting for data"
    elif isinstance(exc, httpx.WriteTimeout):
        cause, detail = "write_timeout", "timed out sending the request"
    elif isinstance(exc, httpx.PoolTimeout):
        cause, detail = "pool_timeout", "timed out waiting for a free connection"
    elif isinstance(exc, httpx.ConnectError):
        cause, detail = "connect_error", f"cannot connect ({text})"
    elif isinstance(exc, httpx.RemoteProtocolError):
        cause, detail = "protocol_error", f"response cut short or malformed ({text})"
    elif isinstance(exc, httpx.ProxyError):
        cause, detail = "proxy_error", f"proxy failed ({text})"
    elif isinstance(exc, httpx.NetworkError):
        cause, detail = "network_error", f"connection failed ({text})"
    elif isinstance(exc, httpx.DecodingError):
        cause, detail = "decoding_error", f"body cannot be decoded ({text})"
    elif isinstance(exc, httpx.TooManyRedirects):
        cause, detail, retryable = "too_many_redirects", "too many redirects", False
    elif isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        cause, detail, retryable = "invalid_url", f"invalid URL ({text})", False
    else:
        cause = "http_error"
        detail = f"{type(exc).__name__}: {text}"
        retryable = isinstance(exc, httpx.TransportError) and not isinstance(
            exc, httpx.LocalProtocolError
        )
    return _Failure(cause, detail, retryable)


def _status_failure(response: httpx.Response, secrets: Mapping[str, str]) -> _Failure:
    """Classify a non-2xx response."""
    status = response.status_code
    detail = f"HTTP {status} {response.reason_phrase}".rstrip()
    snippet = " ".join(response.text[:200].split()) if response.content else ""
    if snippet:
        detail += f" ({redact(snippet, secrets)})"
    retryable = status == 429 or status >= 500
    retry_after = None
    if retryable:
        dates = response.headers.get_list("Date")
        server_now = _parse_http_date(dates[0]) if dates else None
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=server_now)
    return _Failure(f"http_{status}", detail, retryable, status, retry_after)


class HttpClient:
    """The HTTP client of one source for one run; a context manager.

    `get` and `post` return the body of a 2xx response or raise `FetchError`. `sleep`, `clock`
    (monotonic seconds) and `rng` are injectable so that tests need not wait. See the module
    docstring for the retry, budget, rate-limit and secret rules.
    """

    def __init__(
        self,
        policy: HttpPolicy,
        *,
        secrets: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self.fetch_stats = FetchStats()
        self._secrets: dict[str, str] = dict(secrets or {})
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._deadline: float | None = None
        self._last_start: float | None = None
        self._client = httpx.Client(
            headers={"User-Agent": policy.user_agent},
            timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
            verify=policy.verify_tls,
            follow_redirects=True,
        )
        _install_library_filter()
        _LIVE_CLIENTS.add(self)

    def __repr__(self) -> str:
        return f"HttpClient(policy={self.policy!r}, secrets={sorted(self._secrets)!r})"

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections; the client cannot be used afterwards."""
        self._client.close()
        _LIVE_CLIENTS.discard(self)

    def budget_left(self) -> float:
        """Seconds left of the run budget (the whole budget before the first request)."""
        if self._deadline is None:
            return self.policy.run_budget
        return max(0.0, self._deadline - self._clock())

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str | int | float] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """GET `url` (may name secrets as ``{NAME}``); the body of a 2xx response.

        `params` are merged into the query already in `url` (httpx alone would replace it).

        Raises `FetchError` (URL redacted) when no attempt succeeded.
        """
        return self._request("GET", url, params=params, headers=headers, data=None)

    def post(
        self,
        url: str,
        *,
        data: Mapping[str, str] | bytes | None = None,
        params: Mapping[str, str | int | float] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """POST `data` (a form as a mapping, or raw bytes) to `url`; the body of a 2xx response.

        Raises `FetchError` (URL redacted) when no attempt succeeded.
        """
        return self._request("POST", url, params=params, headers=headers, data=data)

    # -- internals ----------------------------------------------------------------------------

    def _build(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int | float] | None,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str] | bytes | None,
    ) -> httpx.Request:
        secrets = self._secrets
        remaining = self.budget_left()
        timeout = httpx.Timeout(
            min(self.policy.read_timeout, remaining),
            connect=min(self.policy.connect_timeout, remaining),
        )
        form: dict[str, str] | None = None
        content: bytes | None = None
        if isinstance(data, bytes):
            content = data
        elif data is not None:
            form = {k: _fill_raw(str(v), secrets) for k, v in data.items()}
        target = httpx.URL(expand(url, secrets))
        if params:
            # httpx's own `params=` would replace a query already in the URL: merge instead.
            target = target.copy_merge_params(
                {k: _fill_raw(str(v), secrets) for k, v in params.items()}
            )
        return self._client.build_request(
            method,
            target,
            headers={k: _fill_raw(v, secrets) for k, v in headers.items()} if headers else None,
            data=form,
            content=content,
            timeout=timeout,
        )

    def _shown_url(self, url: str, params: Mapping[str, str | int | float] | None) -> str:
        """The URL as logs and errors show it: parameters merged, secrets as ``{NAME}``."""
        try:
            full = str(self._build("GET", url, params, None, None).url)
        except (httpx.InvalidURL, ValueError):
            full = url
        return redact(full, self._secrets)

    def _error(
        self, message: str, url: str, reason: str, failure: _Failure | None, *, retryable: bool
    ) -> FetchError:
        self.fetch_stats.gave_up[reason] += 1
        return FetchError(
            redact(message, self._secrets),
            url=url,
            status_code=failure.status_code if failure else None,
            retryable=retryable,
            retry_after=failure.retry_after if failure else None,
        )

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.fetch_stats.waited += seconds
            self._sleep(seconds)

    def _backoff(self, retry: int) -> float:
        """Equal-jitter exponential backoff before retry number `retry` (1, 2, ...), seconds."""
        cap = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (retry - 1))
        return cap / 2 + self._rng.uniform(0, cap / 2)

    def _budget_error(
        self, method: str, shown: str, attempt: int, failure: _Failure | None, why: str
    ) -> FetchError:
        last = f"; last error: {failure.detail}" if failure else ""
        logger.warning(
            "%s %s: run time budget spent (%s) after %d attempt(s)%s; giving up",
            method,
            shown,
            why,
            attempt,
            last,
        )
        message = (
            f"{method} {shown}: the run's time budget of {self.policy.run_budget:g} s is spent "
            f"({why}, after {attempt} attempt{'s' if attempt != 1 else ''}){last}. "
            "The next run will try again; raise http.run_budget if this source is just slow"
        )
        return self._error(message, shown, "budget_spent", failure, retryable=True)

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int | float] | None,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str] | bytes | None,
    ) -> bytes:
        policy = self.policy
        shown = self._shown_url(url, params)
        if self._deadline is None:
            self._deadline = self._clock() + policy.run_budget
        attempts = policy.retries + 1
        failure: _Failure | None = None
        first_start: float | None = None

        for attempt in range(1, attempts + 1):
            if failure is not None:
                delay = self._backoff(attempt - 1)
                if failure.retry_after is not None:
                    delay = max(delay, failure.retry_after)
                if self._clock() + delay >= self._deadline:
                    raise self._budget_error(
                        method, shown, attempt - 1, failure, f"no time left to wait {delay:.1f} s"
                    )
                logger.warning(
                    "%s %s attempt %d/%d failed: %s; retrying in %.1f s",
                    method,
                    shown,
                    attempt - 1,
                    attempts,
                    failure.detail,
                    delay,
                )
                self._wait(delay)
                self.fetch_stats.retries += 1

            if self._last_start is not None and policy.min_interval > 0:
                gap = self._last_start + policy.min_interval - self._clock()
                if gap > 0 and self._clock() + gap >= self._deadline:
                    raise self._budget_error(
                        method, shown, attempt - 1, failure, "no time left for the rate limit"
                    )
                self._wait(gap)
            if self._clock() >= self._deadline:
                raise self._budget_error(method, shown, attempt - 1, failure, "no time left")

            try:
                request = self._build(method, url, params, headers, data)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
                failure = _Failure("invalid_url", f"invalid URL ({exc})", False)
                self.fetch_stats.failures[failure.cause] += 1
                logger.warning("%s %s: %s; not sent", method, shown, failure.detail)
                raise self._error(
                    f"{method} {shown}: {failure.detail}; fix the source's URL in stations.yaml",
                    shown,
                    "not_retryable",
                    failure,
                    retryable=False,
                ) from None

            started = self._clock()
            self._last_start = started
            if first_start is None:
                first_start = started
            self.fetch_stats.requests += 1
            try:
                response = self._client.send(request)
            except httpx.HTTPError as exc:
                failure = _transport_failure(exc, self._secrets)
            else:
                elapsed = self._clock() - started
                if response.is_success:
                    logger.info(
                        "%s %s -> %d (%d bytes, %.2f s, attempt %d/%d)",
                        method,
                        shown,
                        response.status_code,
                        len(response.content),
                        elapsed,
                        attempt,
                        attempts,
                    )
                    return response.content
                failure = _status_failure(response, self._secrets)
            self.fetch_stats.failures[failure.cause] += 1

            if not failure.retryable:
                logger.warning(
                    "%s %s attempt %d/%d failed: %s; not retried",
                    method,
                    shown,
                    attempt,
                    attempts,
                    failure.detail,
                )
                hint = (
                    "the request itself is wrong: check the source's URL, key and parameters"
                    if failure.status_code is not None and 400 <= failure.status_code < 500
                    else "retrying would not help"
                )
                raise self._error(
                    f"{method} {shown}: {failure.detail}; not retried ({hint})",
                    shown,
                    "not_retryable",
                    failure,
                    retryable=False,
                )

            if failure.retry_after is not None and failure.retry_after > policy.retry_after_max:
                logger.warning(
                    "%s %s attempt %d/%d failed: %s; server asks to wait %.0f s, giving up",
                    method,
                    shown,
                    attempt,
                    attempts,
                    failure.detail,
                    failure.retry_after,
                )
                raise self._error(
                    f"{method} {shown}: {failure.detail}; the server asks to wait "
                    f"{failure.retry_after:.0f} s (Retry-After), more than the "
                    f"{policy.retry_after_max:g} s allowed (http.retry_after_max): "
                    "not waiting, the next run will try again",
                    shown,
                    "retry_after_too_long",
                    failure,
                    retryable=True,
                )

        assert failure is not None  # the loop only ends here after a failed attempt
        took = self._clock() - (first_start if first_start is not None else 0.0)
        logger.warning(
            "%s %s attempt %d/%d failed: %s; giving up",
            method,
            shown,
            attempts,
            attempts,
            failure.detail,
        )
        raise self._error(
            f"{method} {shown}: gave up after {attempts} attempt{'s' if attempts != 1 else ''} "
            f"in {took:.1f} s; last error: {failure.detail}. The source may be down: "
            "the next run will try again",
            shown,
            "retries_exhausted",
            failure,
            retryable=True,
        )
