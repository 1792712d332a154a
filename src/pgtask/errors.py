"""Exceptions: the ones handlers raise to steer retries, and the ones pgtask raises."""

from __future__ import annotations

from datetime import timedelta


class PgTaskError(Exception):
    """Base class of the errors pgtask raises."""


class ConfigError(PgTaskError):
    """Configuration is missing or wrong; the message says how to fix it."""


class SchemaError(PgTaskError):
    """The database is not migrated, or was migrated by a newer pgtask."""


class DatabaseUnavailable(PgTaskError):
    """The database cannot be reached now (refused, lost, or silent past its deadline), on
    either backend: the caller may retry. The message names the cause, never a password."""


class Refused(PgTaskError):
    """The database refused a value or an operation (a check, a bound, a missing row the
    operation needs); the message is the database's own, without its "pgtask: " prefix."""


class Unsupported(PgTaskError):
    """The backend lacks a capability this operation needs (e.g. schedules on MySQL)."""


class Permanent(Exception):
    """Raise from a handler to fail the task for good: it becomes dead, with no retry."""


class Retry(Exception):
    """Raise from a handler to run the task again later without spending an attempt.

    `after` is seconds or a timedelta (default 1 second).
    """

    def __init__(self, after: float | timedelta = 1.0, reason: str = "snoozed") -> None:
        seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)
        if seconds < 0:
            raise ValueError("Retry(after=...) must not be negative")
        super().__init__(reason)
        self.after = timedelta(seconds=seconds)


class Cancel(Exception):
    """Raise from a handler to cancel its own task: it ends `cancelled`, with `reason` as
    its message (as an operator's `pgtask cancel --reason` records it), no retry, and no
    follow-ups. `pgtask retry` can still revive it."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "cancelled")
        self.reason = reason
