"""envwatch's errors, one map for all of them.

Every error carries a message written for the person who has to act on it: it names the file,
line, row or field and says what to do.

    EnvwatchError                 base of everything envwatch raises on purpose
    ├── ConfigError               stations.yaml is wrong (file, line, what to fix)
    ├── FetchError                a source could not be fetched (URL, status, retryable?)
    ├── ParseError                a payload has nothing usable (file, what it looks like)
    ├── StoreError                the store cannot be opened, migrated or locked
    │   └── LockTimeout           another run holds the store's write lock
    ├── QueryError                a query was refused (write attempt, bad SQL)
    └── UsageError                a command was called with arguments that do not fit

Every error's text is redacted when it is made: a registered secret (envwatch.redaction) shows
as ``{NAME}``.

Row-level problems are not exceptions: readers return them as `Reject` records so that the good
rows of the same payload still land.
"""

from __future__ import annotations

from envwatch.redaction import redact


class EnvwatchError(Exception):
    """Base class of envwatch's own errors; `str(err)` is a one-line message for staff.

    Text arguments are redacted (`envwatch.redaction.redact`) when the error is made, so that
    no secret known to the process reaches a message, a ledger row, a log or a traceback.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigError(EnvwatchError):
    """The configuration file is invalid."""


class FetchError(EnvwatchError):
    """A payload could not be fetched.

    `status_code` is the HTTP status if there was one, `retryable` says whether trying again
    later may help, `retry_after` is the server's requested delay in seconds, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.url = redact(url) if url is not None else None
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after


class ParseError(EnvwatchError):
    """A payload holds nothing usable (empty, wrong format, HTML error page, ...)."""


class StoreError(EnvwatchError):
    """The store cannot be opened, migrated or written."""


class LockTimeout(StoreError):
    """Another process holds the store's write lock for longer than we may wait."""


class QueryError(EnvwatchError):
    """A query was refused or failed."""


class UsageError(EnvwatchError):
    """A command was called with arguments that do not fit together."""
