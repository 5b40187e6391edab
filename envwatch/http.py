"""One HTTP client for every source: timeouts, retries, a run budget, a rate limit, hidden secrets.

Every source fetches through `HttpClient`, built from an `HttpPolicy` (usually
`policy_from_config(source["http"])`). All durations are in seconds.

A call of `HttpClient.get` / `HttpClient.post` goes through small layers, one concern each:

1. build the URL (secrets filled in) and its redacted form for logs and errors (`_build`,
   `_shown_url`);
2. wait for the rate limit: at least ``policy.min_interval`` seconds between the starts of
   consecutive attempts of the same client, retries included (`_pace`);
3. send once, following redirects within the same site; a redirect to another site (scheme,
   host or port) is refused when the request carries a secret in a header or its body, or
   the new URL holds one (`_send`);
4. classify the outcome: the body of a 2xx, or a `envwatch.retry.Failure`; a 2xx whose body
   contains a secret in any encoding is a failure too, and is never returned, so never stored
   (`_attempt`);
5. the retry loop obeys `envwatch.retry.RetryPolicy` (which failures are retried, backoff with
   equal jitter, ``Retry-After`` as a floor, too long a ``Retry-After`` refused) (`_request`);
6. stats (`FetchStats`) and one log line per attempt (`_give_up`, `_budget_error`).

The run budget: ``policy.run_budget`` seconds from the client's first request for all its
requests, sleeps included. No attempt starts and no sleep begins that would end past it; each
attempt's timeouts are cut to what is left. When it is spent the call raises a retryable
`FetchError` saying so. httpx's read timeout bounds each read, not a whole slow download, so
one trickling response can still overrun the budget by up to that download's length.

Secrets (API keys, tokens) are resolved from environment variables by the caller and handed to
the client as ``{NAME: value}``; URLs, parameter values, header values and form values may name
them as ``{NAME}``. The client substitutes them only in what it sends and registers them with
`envwatch.redaction`, so that every log record, exception and message of the process shows
``{NAME}`` instead, in any encoding. A client is meant to be used from one thread at a time.
"""

from __future__ import annotations

import importlib.metadata
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from envwatch.duration import DURATION_HINT, Duration, parse_duration
from envwatch.errors import ConfigError, FetchError
from envwatch.redaction import find_secret, redact, register
from envwatch.retry import (
    Decision,
    Failure,
    RetryPolicy,
    classify_exception,
    parse_http_date,
    parse_retry_after,
)

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
MAX_REDIRECTS = 10
#: Secrets shorter than this are redacted but not looked for in response bodies: a short value
#: ("42") turns up in data by chance, and refusing every page for it would lose data.
ECHO_MIN_LENGTH = 8
_SNIPPET = 200  # characters of an error response's body quoted in the message


def default_user_agent() -> str:
    """``envwatch/<version> (+environmental monitoring ingester)``; version ``0`` if unknown."""
    try:
        version = importlib.metadata.version("envwatch")
    except importlib.metadata.PackageNotFoundError:
        version = "0"
    return f"envwatch/{version} (+environmental monitoring ingester)"


class HttpPolicy(BaseModel):
    """How one source is fetched. Durations are seconds (`envwatch.duration.Duration`: a
    config may write ``30s``, ``5m``, ``2h``, ``1h30m``).

    `retries` is the number of retries after the first attempt; `run_budget` bounds the total
    time of all requests of one client (one run), sleeps included; `min_interval` is the least
    time between the starts of two consecutive requests (the source's rate limit).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect_timeout: Duration = 10.0
    read_timeout: Duration = 60.0
    retries: StrictInt = Field(default=4, ge=0)
    backoff_base: Duration = 1.0
    backoff_max: Duration = 60.0
    retry_after_max: Duration = 300.0
    run_budget: Duration = 1800.0
    min_interval: Duration = 0.0
    verify_tls: StrictBool = True
    user_agent: str = Field(default_factory=default_user_agent, min_length=1, pattern=r"\S")

    @property
    def retry(self) -> RetryPolicy:
        """The retry decisions of this policy."""
        return RetryPolicy(self.retries, self.backoff_base, self.backoff_max, self.retry_after_max)


_FIX = {
    "retries": "must be a whole number, 0 or more",
    "verify_tls": "must be true or false",
    "user_agent": "must be a non-empty text",
}


def policy_from_config(d: Mapping[str, Any]) -> HttpPolicy:
    """An `HttpPolicy` from a source's ``http:`` mapping in stations.yaml.

    Keys are the field names of `HttpPolicy`; durations are numbers of seconds or texts such as
    ``30s``, ``5m``, ``2h``. Missing keys keep their defaults. Raises `ConfigError` naming the
    key and the fix.
    """
    try:
        return HttpPolicy.model_validate(dict(d))
    except ValidationError as e:
        unknown = sorted(
            str(err["loc"][0]) for err in e.errors() if err["type"] == "extra_forbidden"
        )
        if unknown:
            allowed = ", ".join(sorted(HttpPolicy.model_fields))
            raise ConfigError(
                f"http: unknown setting {', '.join(unknown)}; allowed: {allowed}"
            ) from None
        msgs = []
        for err in e.errors():
            key = str(err["loc"][0])
            fix = _FIX.get(key, f"is not a duration; {DURATION_HINT}")
            msgs.append(f"http.{key}: {d.get(key)!r} {fix}")
        raise ConfigError("; ".join(msgs)) from None


@dataclass
class FetchStats:
    """What one client went through, for the run ledger.

    `requests` counts attempts sent, `retries` the attempts after the first of a call,
    `failures` every failed attempt by cause (``http_503``, ``connect_error``, ``read_timeout``,
    ``protocol_error``, ``secret_echoed`` ...), `gave_up` the calls that raised `FetchError` by
    reason (``not_retryable``, ``retries_exhausted``, ``retry_after_too_long``,
    ``budget_spent``), `waited` the seconds slept for backoff and rate limiting.
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


# --- secrets in requests -----------------------------------------------------------------------


def expand(url_template: str, secrets: Mapping[str, str] | None) -> str:
    """Fill the ``{NAME}`` placeholders of a URL with their secrets, percent-encoded.

    Raises `ConfigError` naming the placeholder when a secret is missing or empty.
    """
    from urllib.parse import quote

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


def _fill_raw(text: str, secrets: Mapping[str, str]) -> str:
    """Fill known ``{NAME}`` placeholders with raw values (httpx encodes params and forms)."""
    if not secrets or "{" not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: secrets.get(m.group(1)) or m.group(0), text)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port (default ports filled in): what "the same site" means."""
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


@dataclass(frozen=True)
class _Call:
    """What one `get` or `post` asks for; secrets still ``{NAME}`` placeholders."""

    method: str
    url: str
    params: Mapping[str, str | int | float] | None = None
    headers: Mapping[str, str] | None = None
    data: Mapping[str, str] | bytes | None = None


def _same_site(origin: tuple[str, str, int | None], target: tuple[str, str, int | None]) -> bool:
    """Whether a redirect stays on the site: same origin, or the same host moving to https."""
    return target == origin or (
        origin[0] == "http" and target == ("https", origin[1], 443) and origin[2] == 80
    )


class _RedirectRefused(Exception):
    """A redirect that would carry a secret to another site."""


def _classify_response(response: httpx.Response) -> Failure:
    """The `Failure` of a non-2xx response: status, the body's start (redacted, then cut)."""
    status = response.status_code
    detail = f"HTTP {status} {response.reason_phrase}".rstrip()
    if response.content:
        snippet = redact(" ".join(response.text.split()), limit=_SNIPPET)
        if snippet:
            detail += f" ({snippet})"
    retryable = status == 429 or status >= 500
    retry_after = None
    if retryable:
        dates = response.headers.get_list("Date")
        server_now = parse_http_date(dates[0]) if dates else None
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=server_now)
    hint = (
        "the request itself is wrong: check the source's URL, key and parameters"
        if 400 <= status < 500
        else ""
    )
    return Failure(f"http_{status}", detail, retryable, status, retry_after, hint)


# --- the client --------------------------------------------------------------------------------


class HttpClient:
    """The HTTP client of one source for one run; a context manager.

    `get` and `post` return the body of a 2xx response or raise `FetchError`. `sleep`, `clock`
    (monotonic seconds) and `rng` are injectable so that tests need not wait. See the module
    docstring for the layers, the budget, the rate limit and the secret rules.
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
        self._secrets: dict[str, str] = {k: v for k, v in (secrets or {}).items() if v}
        register(self._secrets)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._deadline: float | None = None
        self._last_start: float | None = None
        self._first_start: float | None = None
        self._client = httpx.Client(
            headers={"User-Agent": policy.user_agent},
            timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
            verify=policy.verify_tls,
            follow_redirects=False,  # `_send` follows them, minding the secrets
        )

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
        return self._request(_Call("GET", url, params, headers))

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
        return self._request(_Call("POST", url, params, headers, data))

    # -- 1. build -------------------------------------------------------------------------------

    def _build(self, call: _Call) -> httpx.Request:
        """The request to send: secrets filled in, timeouts cut to the budget left."""
        secrets, data, params, headers = self._secrets, call.data, call.params, call.headers
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
        target = httpx.URL(expand(call.url, secrets))
        if params:
            # httpx's own `params=` would replace a query already in the URL: merge instead.
            target = target.copy_merge_params(
                {k: _fill_raw(str(v), secrets) for k, v in params.items()}
            )
        return self._client.build_request(
            call.method,
            target,
            headers={k: _fill_raw(v, secrets) for k, v in headers.items()} if headers else None,
            data=form,
            content=content,
            timeout=timeout,
        )

    def _shown_url(self, call: _Call) -> str:
        """The URL as logs and errors show it: parameters merged, secrets as ``{NAME}``."""
        try:
            full = str(self._build(_Call("GET", call.url, call.params)).url)
        except (httpx.InvalidURL, ValueError):
            full = call.url
        return redact(full, self._secrets)

    # -- 2. rate limit --------------------------------------------------------------------------

    def _pace(self, method: str, shown: str, done: int, failure: Failure | None) -> None:
        """Wait out the rate limit before an attempt; raise when the budget does not allow it."""
        assert self._deadline is not None
        if self._last_start is not None and self.policy.min_interval > 0:
            gap = self._last_start + self.policy.min_interval - self._clock()
            if gap > 0 and self._clock() + gap >= self._deadline:
                raise self._budget_error(
                    method, shown, done, failure, "no time left for the rate limit"
                )
            self._wait(gap)
        if self._clock() >= self._deadline:
            raise self._budget_error(method, shown, done, failure, "no time left")

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.fetch_stats.waited += seconds
            self._sleep(seconds)

    # -- 3. send --------------------------------------------------------------------------------

    def _send(self, request: httpx.Request) -> httpx.Response:
        """Send `request`, following redirects; never carries a secret to another site."""
        origin = _origin(request.url)
        carried = find_secret(
            "\n".join(request.headers.values()) + "\n" + request.content.decode("latin-1"),
            self._secrets,
        )
        response = self._client.send(request)
        for _ in range(MAX_REDIRECTS):
            following = response.next_request
            if following is None:
                return response
            response.close()
            if not _same_site(origin, _origin(following.url)) and (
                carried or find_secret(str(following.url), self._secrets)
            ):
                scheme, host, port = _origin(following.url)
                raise _RedirectRefused(
                    f"the server redirected to another site ({scheme}://{redact(host)}:{port}); "
                    "not followed, so that the source's secret is not sent there"
                )
            response = self._client.send(following)
        raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)

    # -- 4. classify ----------------------------------------------------------------------------

    def _attempt(self, call: _Call) -> httpx.Response | Failure:
        """One attempt: a 2xx response that echoes no secret, or its `Failure`."""
        try:
            request = self._build(call)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            return Failure(
                "invalid_url",
                f"invalid URL ({redact(str(exc), self._secrets)}); not sent",
                False,
                hint="fix the source's URL in stations.yaml",
            )
        self._last_start = self._clock()
        if self._first_start is None:
            self._first_start = self._last_start
        self.fetch_stats.requests += 1
        failure: Failure | None
        try:
            response = self._send(request)
        except _RedirectRefused as exc:
            failure = Failure("unsafe_redirect", str(exc), False, hint="check the source's URL")
        except httpx.HTTPError as exc:
            failure = classify_exception(exc)
        else:
            failure = self._classify(response)
        if failure is None:
            return response
        self.fetch_stats.failures[failure.cause] += 1
        return failure

    def _classify(self, response: httpx.Response) -> Failure | None:
        """None for a usable 2xx response (logged); else why it is not usable."""
        if not response.is_success:
            return _classify_response(response)
        echoed = find_secret(response.content, self._secrets, min_length=ECHO_MIN_LENGTH)
        if echoed is not None:
            return Failure(
                "secret_echoed",
                f"the server echoed a secret ({{{echoed}}}) in a {response.status_code} "
                "response; the response was not stored",
                False,
                response.status_code,
                hint="ask the provider to stop echoing it, or pass the key in a header",
            )
        return None

    # -- 5. retry loop --------------------------------------------------------------------------

    def _request(self, call: _Call) -> bytes:
        """The body of the first usable response, retrying as `HttpPolicy.retry` decides."""
        method, shown = call.method, self._shown_url(call)
        if self._deadline is None:
            self._deadline = self._clock() + self.policy.run_budget
        self._first_start = None
        attempts = self.policy.retries + 1
        attempt, failure = 0, None
        while True:
            self._pace(method, shown, attempt, failure)
            attempt += 1
            outcome = self._attempt(call)
            if isinstance(outcome, httpx.Response):
                took = self._clock() - (self._last_start or 0.0)
                status, size = outcome.status_code, len(outcome.content)
                logger.info(
                    "%s %s -> %d (%d bytes, %.2f s, attempt %d/%d)",
                    *(method, shown, status, size, took, attempt, attempts),
                )
                return outcome.content
            failure = outcome
            decision = self.policy.retry.decide(
                failure, attempt, time_left=self.budget_left(), jitter=self._rng.random()
            )
            if not decision.retry:
                raise self._give_up(method, shown, attempt, failure, decision)
            logger.warning(
                "%s %s attempt %d/%d failed: %s; retrying in %.1f s",
                method,
                shown,
                attempt,
                attempts,
                failure.detail,
                decision.wait,
            )
            self._wait(decision.wait)
            self.fetch_stats.retries += 1

    # -- 6. giving up ---------------------------------------------------------------------------

    def _give_up(
        self, method: str, shown: str, attempt: int, failure: Failure, decision: Decision
    ) -> FetchError:
        """The `FetchError` (logged, counted) of a call that ends in `failure`."""
        attempts = self.policy.retries + 1
        if decision.reason == "budget_spent":
            why = f"no time left to wait {decision.wait:.1f} s"
            return self._budget_error(method, shown, attempt, failure, why)
        head = f"{method} {shown} attempt {attempt}/{attempts} failed: {failure.detail}"
        if decision.reason == "not_retryable":
            logger.warning("%s; not retried", head)
            hint = failure.hint or "retrying would not help"
            message = f"{method} {shown}: {failure.detail}; not retried ({hint})"
        elif decision.reason == "retry_after_too_long":
            logger.warning("%s; server asks to wait %.0f s, giving up", head, failure.retry_after)
            message = (
                f"{method} {shown}: {failure.detail}; the server asks to wait "
                f"{failure.retry_after:.0f} s (Retry-After), more than the "
                f"{self.policy.retry_after_max:g} s allowed (http.retry_after_max): "
                "not waiting, the next run will try again"
            )
        else:
            logger.warning("%s; giving up", head)
            took = self._clock() - (self._first_start or 0.0)
            message = (
                f"{method} {shown}: gave up after {attempt} attempt{'s' if attempt != 1 else ''} "
                f"in {took:.1f} s; last error: {failure.detail}. The source may be down: "
                "the next run will try again"
            )
        return self._error(message, shown, decision.reason, failure)

    def _budget_error(
        self, method: str, shown: str, attempt: int, failure: Failure | None, why: str
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
        return self._error(message, shown, "budget_spent", failure)

    def _error(self, message: str, url: str, reason: str, failure: Failure | None) -> FetchError:
        self.fetch_stats.gave_up[reason] += 1
        return FetchError(
            redact(message, self._secrets),
            url=url,
            status_code=failure.status_code if failure else None,
            retryable=reason not in ("not_retryable",),
            retry_after=failure.retry_after if failure else None,
        )
