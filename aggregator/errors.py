"""The error tree. Every message is a sentence a curator can act on.

    MassageEventsError                 str(e) is a sentence a curator can act on
    ├── ConfigError(problems)          refused before any fetch; exit status 2
    ├── SourceError(source_id)         one source failed; the run goes on, last good events kept
    │   ├── FetchError
    │   │   ├── RetryableFetchError    timeout, reset, 429, 5xx: back off and retry
    │   │   └── FetchRefused           404/410, too large, bad scheme, redirect loop, robots.txt, SSRF
    │   └── ParseError                 not a calendar/feed/page we understand, wrong encoding
    ├── RecordRejected(source_id, external_id)   one record skipped by normalize, counted by class
    ├── StoreError                     the database cannot be used; names it and the fix
    │   ├── DatabaseDamaged            not a database, or quick_check failed: the recovery
    │   ├── DatabaseFull               the disk is full (the data is fine)
    │   ├── DatabaseNotWritable        permission denied (the data is fine)
    │   ├── DatabaseUnreachable        the PostgreSQL server cannot be reached or refuses
    │   └── RunInProgress              another run holds the database's run lock (exit 75)
    ├── LocationError                  --db/--out of an unsupported scheme or unreachable: exit 2
    └── DeliveryError                  SMTP or outbox failure
"""

from __future__ import annotations

from dataclasses import dataclass


class MassageEventsError(Exception):
    """Base of every error massage-events expects; str(e) is shown to the user as is."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file: where, what, and how to fix it."""

    path: str
    line: int | None
    problem: str
    fix: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        text = f"{where}: {self.problem}"
        if self.fix:
            text += f"; {self.fix}"
        return text


class ConfigError(MassageEventsError):
    """sources.yaml is refused; lists every problem found, each with file, line and fix."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        lines = [f"{len(self.problems)} problems in the configuration:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class SourceError(MassageEventsError):
    """One source could not be read. The run goes on; its last good events are kept.

    `reason` is a short machine-readable class of failure ("timeout", "too_large",
    "http_500", "ssrf", "not_a_calendar", ...) shown in `status` beside the message.
    """

    reason = "source_error"

    def __init__(self, message: str, *, source_id: str | None = None, reason: str | None = None,
                 http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source_id = source_id
        self.http_status = http_status
        if reason:
            self.reason = reason

    def __str__(self) -> str:
        return f"{self.source_id}: {self.message}" if self.source_id else self.message

    def __reduce__(self):
        # Pickled whole (reason, http_status, retry_after...): a source read in a worker
        # process sends its error back to the run.
        return _rebuild_source_error, (type(self), self.message, self.__dict__)


def _rebuild_source_error(cls: type[SourceError], message: str, state: dict) -> SourceError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class FetchError(SourceError):
    reason = "fetch_error"


class RetryableFetchError(FetchError):
    """Timeout, connection reset, 429, 5xx: worth trying again later."""

    reason = "retryable"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class FetchRefused(FetchError):
    """404/410, too large, bad scheme, redirect loop, robots.txt, SSRF: retrying will not help."""

    reason = "refused"


class ParseError(SourceError):
    """The bytes came, but they are not a calendar/feed/page we can read."""

    reason = "parse_error"


class RecordRejected(MassageEventsError):
    """One record of a source is skipped (no start, end before start, past the horizon...)."""

    def __init__(self, message: str, *, source_id: str | None = None,
                 external_id: str | None = None, reason: str = "rejected") -> None:
        super().__init__(message)
        self.message = message
        self.source_id = source_id
        self.external_id = external_id
        self.reason = reason


class UnknownSourceType(MassageEventsError):
    """A `type:` no installed adapter registers (or an adapter registered under the wrong name)."""


# -- the store ------------------------------------------------------------------------------------

class StoreError(MassageEventsError):
    """The database cannot be opened or used; the message names the file and what to do."""


class DatabaseDamaged(StoreError):
    """The file is not a database, or its pages fail SQLite's integrity check (quick_check)."""


class DatabaseFull(StoreError):
    """The disk (or quota) holding the database is full: nothing is wrong with the data."""


class DatabaseNotWritable(StoreError):
    """The operating system refuses to open or write the file or its folder."""


class DatabaseUnreachable(StoreError):
    """The PostgreSQL server cannot be reached or refuses the login."""

    exit_code = 2


class RunInProgress(StoreError):
    """Another `run` (a cron job, or serve's refresh) holds this database's run lock."""

    exit_code = 75  # EX_TEMPFAIL: cron may simply try again at the next tick


class LocationError(MassageEventsError):
    """A --db or --out value names nothing massage-events can use (an unsupported URL scheme,
    an unreachable bucket); refused before any fetch."""

    exit_code = 2


# -- publishing -----------------------------------------------------------------------------------

class OutputError(MassageEventsError):
    """The output folder cannot be written (disk full, permission denied); the message says which,
    and that the files already published were left as they were."""


# -- mail -----------------------------------------------------------------------------------------

class DeliveryError(MassageEventsError):
    """An email could not be delivered (SMTP refused it, or the outbox is not writable)."""


class TemporaryDeliveryError(DeliveryError):
    """A 4xx or a dropped connection: the same message may be tried again later."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class PermanentDeliveryError(DeliveryError):
    """A 5xx for this recipient: trying again will not help."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class SmtpSetupError(DeliveryError):
    """The SMTP settings do not work; the message names what to change in sources.yaml or the environment."""


class InvalidAddress(MassageEventsError):
    """An email address we cannot send to."""


class TokenError(MassageEventsError):
    """A link that cannot be honoured: forged, damaged, meant for something else, or expired."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # "expired" | "invalid"


class BounceMailboxError(MassageEventsError):
    """The mailbox of returned mail cannot be read; the message names the fix."""

    exit_code = 2
