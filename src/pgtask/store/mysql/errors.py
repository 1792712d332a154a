"""PyMySQL's errors as pgtask's: DatabaseUnavailable when the server cannot be reached,
Refused when it refuses a value. Every MySQL store call runs inside `translated()`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pymysql

from pgtask.errors import DatabaseUnavailable, Refused

# Errors that mean the connection is gone (can't connect, gone away, lost, killed, server
# shutting down, idle timeout).
CONNECTION_LOST = {2003, 2006, 2013, 2055, 1053, 1927, 4031}
ER_LOCK_WAIT_TIMEOUT = 1205
ER_LOCK_DEADLOCK = 1213  # InnoDB rolled the whole transaction back: safe to run it again
# A value the server refuses that PyMySQL does not class as DataError/IntegrityError: a
# SIGNAL from a pgtask procedure, a CHECK constraint (MySQL 8, MariaDB).
REFUSAL_CODES = {1644, 3819, 4025}


def error_code(exc: BaseException) -> int | None:
    if not isinstance(exc, pymysql.err.MySQLError):
        return None
    code = exc.args[0] if exc.args else None
    return code if isinstance(code, int) else None


def is_lost(exc: BaseException) -> bool:
    """Whether `exc` means the connection is gone (so the connection must be discarded)."""
    if isinstance(exc, pymysql.err.InterfaceError | OSError):
        return True
    return error_code(exc) in CONNECTION_LOST


def reason(exc: BaseException) -> str:
    if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) > 1:
        return str(exc.args[1])
    return str(exc)


def is_refusal(exc: BaseException) -> bool:
    return (isinstance(exc, pymysql.err.DataError | pymysql.err.IntegrityError)
            or error_code(exc) in REFUSAL_CODES)


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except (pymysql.err.MySQLError, OSError) as exc:
        if is_refusal(exc):
            raise Refused(reason(exc).removeprefix("pgtask: ")) from exc
        if is_lost(exc) or error_code(exc) == ER_LOCK_WAIT_TIMEOUT:
            raise DatabaseUnavailable(reason(exc)) from exc
        raise
