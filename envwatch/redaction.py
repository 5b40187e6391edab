"""Secrets (API keys, tokens) and their redaction: one function for every text made from outside data.

A secret is a value read from an environment variable named in stations.yaml (``secrets:``);
it is shown as ``{NAME}``, never as its value. `register` makes a secret known to the whole
process (an `envwatch.http.HttpClient` registers its secrets when it is made); from then on:

- `redact` replaces it in any text: messages, ledger errors, exception texts, URLs;
- every `envwatch.errors.EnvwatchError` redacts its own message and attributes;
- every log record (envwatch's, httpx's, any library's, tracebacks included) is redacted
  when it is made (`logging.setLogRecordFactory`), and so is the traceback of an uncaught
  exception (`sys.excepthook`, `threading.excepthook`);
- `find_secret` tells whether downloaded data contains it, so that the client can refuse to
  store a response that echoes a secret.

The forms recognised, character by character and mixed freely: the raw character; percent-
encoding (upper- or lower-case hex, ``+`` for a space as `quote_plus` writes it, encoded twice
as ``%252F``); HTML character references (``&amp;``, ``&#38;``, ``&#x26;``, named or numeric);
JSON and Python escapes (``\\/``, ``\\u0026``, ``\\x26``, a doubled backslash). The whole value
is also recognised base64-encoded (standard and URL-safe alphabets, with or without padding,
and at any of the three byte alignments inside a longer base64 text, for values of 6 or more
characters) and hex-encoded.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import sys
import threading
import traceback
from collections.abc import Mapping
from types import TracebackType

__all__ = ["find_secret", "forget_all", "known_secrets", "redact", "register"]

_LOCK = threading.Lock()
_KNOWN: dict[str, str] = {}  # value -> name
_MIN_ENCODED = 6  # shorter values are not looked for as base64 or hex (too many false matches)

_HTML_NAMED = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}
# JSON's and Python's short escapes: the character after the backslash
_JSON_SHORT = dict(zip("/\"'\\\n\r\t\b\f", "/\"'\\nrtbf", strict=True))


def register(secrets: Mapping[str, str]) -> None:
    """Make secrets known to the process: redacted everywhere from now on. Empty values are
    ignored. The first name registered for a value is the one shown."""
    fresh = {value: name for name, value in secrets.items() if value}
    if not fresh:
        return
    with _LOCK:
        for value, name in fresh.items():
            _KNOWN.setdefault(value, name)
    _install_log_redaction()


def known_secrets() -> dict[str, str]:
    """The registered secrets, ``{NAME: value}``."""
    with _LOCK:
        return {name: value for value, name in _KNOWN.items()}


def forget_all() -> None:
    """Forget every registered secret (for tests)."""
    with _LOCK:
        _KNOWN.clear()


def _hex(byte: int) -> str:
    """Two hex digits matching either case."""
    return "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{byte:02X}")


def _char_forms(c: str) -> str:
    """A regex for one character of a secret in any of the encodings of the module docstring."""
    forms = [re.escape(c)]
    utf8 = c.encode("utf-8")
    forms.append("".join(f"%(?:25)*{_hex(b)}" for b in utf8))  # percent, also encoded twice
    if not c.isascii():
        forms.append("".join(f"\\\\x{_hex(b)}" for b in utf8))  # bytes repr
    if c == " ":
        forms.append(r"\+")
    code = ord(c)
    forms.append(f"&#0*{code};")
    forms.append(f"&#[xX]0*{_hex_digits(code)};")
    if c in _HTML_NAMED:
        forms.append(f"&(?:amp;)*{_HTML_NAMED[c]};")
    if c in _JSON_SHORT:
        forms.append(re.escape("\\" + _JSON_SHORT[c]))
    if code < 0x10000:
        forms.append(f"\\\\u{_hex_digits(code, 4)}")
    else:
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms.append(f"\\\\u{_hex_digits(high, 4)}\\\\u{_hex_digits(low, 4)}")
    forms.append(f"\\\\U{_hex_digits(code, 8)}")  # Python's escape of any code point
    if code < 0x100 and not c.isalnum():
        forms.append(f"\\\\x{_hex(code)}")  # Python's escape of a control or Latin-1 character
    # Encoded forms first: at the end of a value, the raw '%' must not win over '%25'.
    return "(?:" + "|".join(forms[1:] + forms[:1]) + ")"


def _hex_digits(code: int, width: int = 1) -> str:
    """`code` in hex, at least `width` digits, each digit matching either case."""
    return "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{code:0{width}X}")


def _encoded_forms(value: str) -> list[str]:
    """Whole-value encodings: base64 (both alphabets, padded or not, at each alignment), hex."""
    if len(value) < _MIN_ENCODED:
        return []
    raw = value.encode("utf-8")
    found: set[str] = {raw.hex(), raw.hex().upper()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        found.update({whole, whole.rstrip("=")})
        for shift in (0, 1, 2):  # the value's bytes start 0, 1 or 2 bytes into a 3-byte group
            text = encode(b"\0" * shift + raw).decode("ascii")
            start = -(-8 * shift // 6)  # first character made only of the value's bits
            end = 8 * (shift + len(raw)) // 6  # one past the last such character
            core = text[start:end]
            if len(core) >= 8:
                found.add(core)
    return sorted(found, key=len, reverse=True)


@functools.lru_cache(maxsize=64)
def _pattern(pairs: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """One regex for all `pairs` (name, value), longest value first; and the group's names."""
    ordered = sorted(pairs, key=lambda pair: len(pair[1]), reverse=True)
    groups = []
    for i, (_, value) in enumerate(ordered):
        chars = "".join(_char_forms(c) for c in value)
        alternatives = [chars] + [re.escape(form) for form in _encoded_forms(value)]
        groups.append(f"(?P<s{i}>{'|'.join(alternatives)})")
    return re.compile("|".join(groups)), tuple(name for name, _ in ordered)


def _pairs(secrets: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """The given secrets plus the registered ones, as sorted (name, value) pairs."""
    with _LOCK:
        merged = dict(_KNOWN)  # value -> name
    for name, value in (secrets or {}).items():
        if value:
            merged[value] = name
    return tuple(sorted((name, value) for value, name in merged.items()))


def redact(text: str, secrets: Mapping[str, str] | None = None, *, limit: int | None = None) -> str:
    """`text` with every form of every secret (given and registered) replaced by ``{NAME}``.

    `limit` then cuts the result to that many characters (ending in ``…``): redaction comes
    first, so a cut never leaves part of a secret behind.
    """
    pairs = _pairs(secrets)
    if pairs and text:
        pattern, names = _pattern(pairs)
        text = pattern.sub(lambda m: "{" + names[int(str(m.lastgroup)[1:])] + "}", text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def find_secret(
    data: bytes | str, secrets: Mapping[str, str] | None = None, *, min_length: int = 1
) -> str | None:
    """The name of a secret (given or registered) that `data` contains in any form, or None.

    Only secrets of at least `min_length` characters are looked for. Bytes are read as UTF-8
    (undecodable bytes never match), so a secret is found in UTF-8, ASCII-compatible
    (GB18030 ...) and binary data alike.
    """
    pairs = tuple(pair for pair in _pairs(secrets) if len(pair[1]) >= min_length)
    if not pairs or not data:
        return None
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    pattern, names = _pattern(pairs)
    m = pattern.search(text)
    return names[int(str(m.lastgroup)[1:])] if m else None


# --- logging -----------------------------------------------------------------------------------

_installed = False
_FORMATTER = logging.Formatter()


def _install_log_redaction() -> None:
    """Wrap the log record factory once, so that every record is redacted when it is made."""
    global _installed
    with _LOCK:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)  # type: ignore[arg-type]
        if _KNOWN:
            _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _install_excepthooks()


def _install_excepthooks() -> None:
    """Print uncaught exceptions (main thread and others) with their tracebacks redacted."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not _KNOWN or kind is KeyboardInterrupt:
            previous(kind, exc, tb)
            return
        sys.stderr.write(redact("".join(traceback.format_exception(kind, exc, tb))))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        if args.exc_value is None or not _KNOWN:
            previous_thread(args)
            return
        name = args.thread.name if args.thread is not None else "?"
        text = "".join(
            traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
        )
        sys.stderr.write(redact(f"Exception in thread {name}:\n{text}"))

    previous_thread = threading.excepthook
    sys.excepthook = hook
    threading.excepthook = thread_hook


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it itself, later
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
