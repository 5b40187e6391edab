"""Secrets never leak (issue 15, item 3): every encoding is redacted, redaction comes before any
cut, a response that echoes a secret is never stored, and the siblings (exception reprs and
tracebacks, redirects, log records, ledger errors, run summaries) show ``{NAME}`` only.

Everything runs against `tests/faultserver.py` on 127.0.0.1.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import random
import sqlite3
import traceback
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envwatch.config import load_config
from envwatch.errors import FetchError, ParseError
from envwatch.http import HttpClient, HttpPolicy
from envwatch.redaction import find_secret, forget_all, redact, register
from envwatch.sources import cnemc_water

from conftest import AIR_DAY1, write_config
from faultserver import FaultServer, Recorded, Reply, echo, refused_url

SECRET = "Zq8/vK+2m=X9&pL4"
NAME = "API_KEY"


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    forget_all()
    yield
    forget_all()


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def _lower_hex(text: str) -> str:
    """Percent-escapes with lower-case hex digits, the rest unchanged."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "%":
            out.append(text[i : i + 3].lower())
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def encodings(value: str) -> dict[str, str]:
    """The forms a secret takes in URLs, pages, JSON and headers."""
    raw = value.encode()
    return {
        "raw": value,
        "quote": quote(value),
        "quote safe=''": quote(value, safe=""),
        "quote lower-case hex": _lower_hex(quote(value, safe="")),
        "quote_plus": quote_plus(value),
        "quote_plus lower-case hex": _lower_hex(quote_plus(value)),
        "quoted twice": quote(quote(value, safe=""), safe=""),
        "html.escape": html.escape(value),
        "html.escape quote=False": html.escape(value, quote=False),
        "numeric character references": "".join(f"&#{ord(c)};" for c in value),
        "json.dumps": json.dumps(value)[1:-1],
        "JSON with \\u escapes": "".join(f"\\u{ord(c):04x}" for c in value),
        "JSON escaped /": value.replace("/", "\\/"),
        "repr": repr(value)[1:-1],
        "base64": base64.b64encode(raw).decode(),
        "base64 url-safe unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "base64 inside Basic auth": base64.b64encode(b"user:" + raw).decode(),
        "base64 inside Basic auth, shifted": base64.b64encode(b"us:" + raw + b"!").decode(),
        "hex": raw.hex(),
    }


def _leaks(text: str, value: str = SECRET, piece: int = 5) -> list[str]:
    """Pieces of `value` (`piece` characters or more, raw or encoded) found in `text`."""
    found = []
    for form in (value, quote(value, safe=""), quote_plus(value)):
        for i in range(len(form) - piece + 1):
            if form[i : i + piece] in text:
                found.append(form[i : i + piece])
    return found


# --- the one redaction function -----------------------------------------------------------------


@pytest.mark.parametrize(("how", "form"), list(encodings(SECRET).items()))
def test_every_encoding_of_a_secret_is_redacted(how: str, form: str) -> None:
    text = f"GET https://api.example/x?a=1&k={form}&b=2 failed"
    shown = redact(text, {NAME: SECRET})
    assert "{API_KEY}" in shown, how
    assert _leaks(shown) == [], how
    assert find_secret(text.encode(), {NAME: SECRET}) == NAME


def test_a_non_ascii_secret_is_redacted_in_its_encodings() -> None:
    value = "宁波-密钥 42/é"
    for form in (
        value,
        quote(value),
        quote_plus(value),
        json.dumps(value)[1:-1],
        str(value.encode()),
    ):
        assert redact(f"[{form}]", {"K": value}).count("{K}") == 1, form


def test_redaction_leaves_other_text_alone_and_prefers_the_longer_secret() -> None:
    secrets = {"SHORT": "abc123", "LONG": "abc123xyz789"}
    assert redact("keys abc123xyz789 and abc123, not abc12", secrets) == (
        "keys {LONG} and {SHORT}, not abc12"
    )
    assert redact("nothing to hide", {"EMPTY": ""}) == "nothing to hide"


def test_redact_then_cut_never_leaves_part_of_a_secret() -> None:
    text = "x" * 190 + SECRET + "y" * 50
    shown = redact(text, {NAME: SECRET}, limit=200)
    assert len(shown) <= 200 and _leaks(shown) == []


def test_every_envwatch_error_redacts_a_registered_secret() -> None:
    register({NAME: SECRET})
    err = ParseError(f"page says {html.escape(SECRET)}")
    assert "{API_KEY}" in str(err) and _leaks(repr(err)) == []
    fetch = FetchError("x", url=f"https://h/?k={quote(SECRET, safe='')}")
    assert fetch.url == "https://h/?k={API_KEY}"


# --- HTTP error bodies: redact first, then cut -----------------------------------------------


def test_an_error_body_with_a_secret_across_the_cut_is_redacted(server: FaultServer) -> None:
    # Before issue 15 the body was cut to 200 characters first: the secret's first half survived.
    body = ("e" * 190 + SECRET + " trailing").encode()
    server.script("/x", then=Reply(403, body=body))
    client = HttpClient(HttpPolicy(retries=0), secrets={NAME: SECRET})
    with client, pytest.raises(FetchError) as info:
        client.get(server.url("/x"))
    assert "HTTP 403" in str(info.value)
    assert _leaks(str(info.value)) == []


# --- a 200 that echoes a secret is never archived ----------------------------------------------


@pytest.mark.parametrize("how", ["raw", "quote safe=''", "quote lower-case hex", "html.escape",
                                 "json.dumps", "base64"])  # fmt: skip
def test_a_200_echoing_a_secret_is_refused(server: FaultServer, how: str) -> None:
    form = encodings(SECRET)[how]
    server.script("/x", then=Reply(200, body=f"<p>You asked for ?key={form}</p>".encode()))
    with HttpClient(HttpPolicy(retries=3), secrets={NAME: SECRET}) as client:
        with pytest.raises(FetchError) as info:
            client.get(server.url("/x?key={API_KEY}"))
        assert dict(client.fetch_stats.failures) == {"secret_echoed": 1}
    err = info.value
    assert "the server echoed a secret" in str(err) and "not stored" in str(err)
    assert not err.retryable and len(server.requests_to("/x")) == 1
    assert _leaks(str(err)) == []


def test_a_page_echoing_the_url_with_the_key_is_refused(server: FaultServer) -> None:
    server.script("/search", then=echo(200))
    client = HttpClient(HttpPolicy(retries=2), secrets={NAME: SECRET})
    with client, pytest.raises(FetchError, match="echoed a secret"):
        client.get(server.url("/search?q=pm25&key={API_KEY}"))
    (request,) = server.requests
    assert quote(SECRET, safe="") in request.target  # it was sent percent-encoded and echoed


def _echo(request: Recorded) -> Reply:
    """A page that echoes the URL it was asked for, as some servers' error pages do."""
    day = request.path.rsplit("_", 1)[1][:8]
    body = AIR_DAY1.read_text().replace("20190101,", f"{day},")
    return Reply(200, body=f"{body}\n# asked for {request.path}?{request.query}".encode())


def test_the_pipeline_stores_no_payload_that_echoes_a_secret(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from envwatch.pipeline import ingest

    monkeypatch.setenv("EW_TEST_KEY", SECRET)
    cfg = write_config(tmp_path)
    text = cfg.read_text(encoding="utf-8").replace(
        "lookback: 2d ",
        "lookback: 2d\n    secrets: [EW_TEST_KEY]\n    http: {retries: 0}\n    # ",
        1,
    )
    cfg.write_text(text, encoding="utf-8")
    loaded = load_config(cfg)
    server.script("/air/china_sites_20261102.csv", then=_echo)
    url = server.url("/air/china_sites_{date:%Y%m%d}.csv?key={EW_TEST_KEY}")
    result = ingest(
        loaded, "cnemc-air-archive", url=url, since=date(2026, 11, 2), until=date(2026, 11, 2)
    )
    (request,) = server.requests
    assert request.query["key"] == [SECRET]  # the server got the key...
    assert result.status == "failed" and result.exit_code == 2
    assert any("echoed a secret" in p for p in result.problems)
    con = sqlite3.connect(loaded.store_path)
    stored = con.execute("SELECT count(*) FROM raw_payloads").fetchone()[0]
    errors = [row[0] for row in con.execute("SELECT error FROM run_payloads")]
    ledger = [row[0] or "" for row in con.execute("SELECT error FROM run_ledger")]
    con.close()
    assert stored == 0  # ...and nothing it sent back was archived
    assert errors and all("echoed a secret" in e for e in errors)
    for text in [*errors, *ledger, result.summary(), *result.problems]:
        assert _leaks(text) == [], text


# --- the cnemc-water reader quoting an HTML page ------------------------------------------------


@pytest.mark.parametrize(
    "page",
    [
        f"<html><head><title>Forbidden: key {SECRET}</title></head></html>",
        f"<html><head><title>Forbidden: key {html.escape(SECRET)}</title></head></html>",
        f"<html><body>{'.' * 30} bad key={SECRET} {'.' * 50}</body></html>",
    ],
)
def test_cnemc_water_does_not_quote_a_secret_from_an_html_page(page: str) -> None:
    register({NAME: SECRET})
    with pytest.raises(ParseError) as info:
        cnemc_water.read(page.encode(), fetched_at=datetime(2026, 11, 2, tzinfo=UTC), name="p1")
    assert "HTML page" in str(info.value)
    assert _leaks(str(info.value)) == []


def test_secrets_named_in_the_config_are_redacted_once_it_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run from saved files makes no HTTP client: the config itself registers the secrets.
    monkeypatch.setenv("EW_TEST_KEY", SECRET)
    cfg = write_config(tmp_path)
    text = cfg.read_text(encoding="utf-8").replace(
        "lookback: 2d ", "lookback: 2d\n    secrets: [EW_TEST_KEY]\n    # ", 1
    )
    cfg.write_text(text, encoding="utf-8")
    load_config(cfg)
    assert str(ParseError(f"bad page {SECRET}")) == "bad page {EW_TEST_KEY}"


# --- siblings: exceptions, tracebacks, redirects, log records ------------------------------------


def test_an_httpx_error_leaves_no_secret_in_the_error_its_repr_or_its_traceback() -> None:
    url, reserved = refused_url("/x?key={API_KEY}")
    try:
        client = HttpClient(HttpPolicy(retries=1, backoff_base=0.001), secrets={NAME: SECRET})
        with client, pytest.raises(FetchError) as info:
            client.get(url)
    finally:
        reserved.close()
    err = info.value
    assert err.__cause__ is None and err.__context__ is None  # no httpx exception hangs on it
    shown = "".join(traceback.format_exception(err)) + repr(err) + str(err.url)
    assert "key={API_KEY}" in shown
    assert _leaks(shown) == []


def test_a_redirect_to_another_site_does_not_carry_a_secret_header() -> None:
    with FaultServer() as home, FaultServer() as elsewhere:
        elsewhere.script("/steal", then=Reply(200, body=b"thanks"))
        home.script("/x", then=Reply(302, {"Location": elsewhere.url("/steal")}))
        client = HttpClient(HttpPolicy(retries=2), secrets={NAME: SECRET})
        with client, pytest.raises(FetchError) as info:
            client.get(home.url("/x"), headers={"X-Api-Key": "{API_KEY}"})
        assert elsewhere.requests == []
    assert "redirected to another site" in str(info.value) and not info.value.retryable


def test_a_post_with_a_secret_form_is_not_replayed_to_another_site() -> None:
    with FaultServer() as home, FaultServer() as elsewhere:
        home.script("/x", then=Reply(307, {"Location": elsewhere.url("/steal")}))
        client = HttpClient(HttpPolicy(retries=0), secrets={NAME: SECRET})
        with client, pytest.raises(FetchError, match="another site"):
            client.post(home.url("/x"), data={"token": "{API_KEY}"})
        assert elsewhere.requests == []


def test_redirects_without_secrets_or_within_the_site_are_followed() -> None:
    with FaultServer() as home, FaultServer() as elsewhere:
        elsewhere.script("/data", then=Reply(200, body=b"moved"))
        home.script("/old", then=Reply(301, {"Location": elsewhere.url("/data")}))
        home.script("/a", then=Reply(302, {"Location": "/b"}))
        home.script("/b", then=Reply(200, body=b"same site"))
        with HttpClient(HttpPolicy(retries=0), secrets={NAME: SECRET}) as client:
            assert client.get(home.url("/old")) == b"moved"
            assert client.get(home.url("/a?key={API_KEY}")) == b"same site"
        assert home.requests_to("/b")[0].query == {}  # the Location decides the new URL


def test_every_log_record_is_redacted_tracebacks_included(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    register({NAME: SECRET})
    other = logging.getLogger("some.library")
    other.warning("calling %s", f"https://h/?k={quote_plus(SECRET)}")
    try:
        raise RuntimeError(f"boom {SECRET}")
    except RuntimeError:
        other.exception("failed")
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "k={API_KEY}" in text and "boom {API_KEY}" in text
    assert _leaks(text) == []


def test_find_secret_speed_on_a_large_payload() -> None:
    # Every 2xx body is checked: a 4 MB day file must stay well under a second.
    import time

    rng = random.Random(1)
    chunk = "".join(rng.choice("0123456789,.%&\\abcdef\n") for _ in range(10_000))
    body = (chunk * 400).encode()
    started = time.perf_counter()
    assert find_secret(body, {NAME: SECRET}) is None
    assert time.perf_counter() - started < 1.0


def test_an_uncaught_exception_prints_a_redacted_traceback() -> None:
    import subprocess
    import sys

    code = (
        "from envwatch.redaction import register\n"
        f"register({{'API_KEY': {SECRET!r}}})\n"
        f"raise RuntimeError('the server said ' + {quote(SECRET, safe='')!r})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert "RuntimeError: the server said {API_KEY}" in done.stderr
    assert _leaks(done.stderr) == []


def _random_encodings(value: str) -> list[str]:
    raw = value.encode()
    return [
        value,
        quote(value, safe=""),
        _lower_hex(quote_plus(value, safe="")),
        html.escape(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        base64.b64encode(raw).decode(),
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=8, max_size=24
    ),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
    which=st.integers(0, 6),
)
def test_any_secret_in_any_listed_encoding_is_redacted(
    value: str, before: str, after: str, which: int
) -> None:
    form = _random_encodings(value)[which]
    shown = redact(f"{before}[{form}]{after}", {"S": value})
    assert "[{S}]" in shown
    assert find_secret(f"{before}{form}{after}".encode(), {"S": value}) == "S"


def test_a_short_secret_is_redacted_but_does_not_refuse_pages_that_happen_to_hold_it(
    server: FaultServer,
) -> None:
    server.script("/x", then=Reply(200, body=b"PM2.5,42,43"))
    with HttpClient(HttpPolicy(retries=0), secrets={"PIN": "42"}) as client:
        assert client.get(server.url("/x?pin={PIN}")) == b"PM2.5,42,43"
    assert redact("pin=42") == "pin={PIN}"


def test_a_redirect_may_move_the_same_host_to_https() -> None:
    from envwatch.http import _same_site

    assert _same_site(("http", "h.example", 80), ("https", "h.example", 443))
    assert not _same_site(("https", "h.example", 443), ("http", "h.example", 80))
    assert not _same_site(("https", "h.example", 443), ("https", "evil.example", 443))
    assert not _same_site(("https", "h.example", 443), ("https", "h.example", 8443))


def test_a_reader_crash_quoting_a_secret_is_redacted_before_the_cut() -> None:
    # A library error (not envwatch's) whose text holds a secret across character 200.
    from envwatch.ingest.fetch import Payload
    from envwatch.ingest.run import _cannot

    register({NAME: SECRET})
    crash = ValueError("could not convert string to float: '" + "9" * 150 + SECRET + "'")
    message = _cannot(Payload("day.csv", lambda: b""), crash)
    assert "day.csv: skipped" in message and _leaks(message) == []
