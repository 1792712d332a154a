"""psycopg's errors as pgtask's: DatabaseUnavailable when the server cannot be reached,
Refused when it refuses a value. Every store method runs inside `translated()`; a LISTEN
session, which only ever listens, inside `session_errors()`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import PoolTimeout

from pgtask.errors import DatabaseUnavailable, Refused

# A pgtask function's own refusal (RAISE ... USING ERRCODE in sql/postgres/) or a value
# a column or CHECK refuses: the caller's mistake, not the server's.
REFUSALS = (psycopg.errors.DataError, psycopg.errors.IntegrityError,
            psycopg.errors.RaiseException)
# The server is away: refused, lost, or the pool found no connection in time.
UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OSError)


def refusal_message(exc: psycopg.Error) -> str:
    message = exc.diag.message_primary or type(exc).__name__
    return message.removeprefix("pgtask: ")


def unavailable_message(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    message = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if isinstance(exc, psycopg.errors.QueryCanceled) and "statement timeout" in first:
        message += (" (the server's statement_timeout for this role is shorter than this "
                    "call needs: raise it, e.g. ALTER ROLE ... SET statement_timeout = '30s')")
    return message


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except REFUSALS as exc:
        raise Refused(refusal_message(exc)) from exc
    except UNAVAILABLE as exc:
        raise DatabaseUnavailable(unavailable_message(exc)) from exc


@contextmanager
def session_errors() -> Iterator[None]:
    """For a session that only listens: whatever the driver raises, the session is over and
    the caller reconnects (a listening loop must survive anything the server does)."""
    try:
        yield
    except (psycopg.Error, OSError) as exc:
        raise DatabaseUnavailable(unavailable_message(exc)) from exc
