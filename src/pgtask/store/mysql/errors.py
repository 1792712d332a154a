"""PyMySQL's errors as pgtask's: DatabaseUnavailable when the server cannot be reached,
Refused when it refuses a value."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pymysql

from pgtask.errors import DatabaseUnavailable, Refused

# Errors that mean the connection is gone (can't connect, gone away, lost, killed, server
# shutting down, idle timeout).
CONNECTION_LOST = {2003, 2006, 2013, 2055, 1053, 1927, 4031}
ER_LOCK_WAIT_TIMEOUT = 1205


def error_code(exc: pymysql.err.MySQLError) -> int | None:
    code = exc.args[0] if exc.args else None
    return code if isinstance(code, int) else None


def is_lost(exc: BaseException) -> bool:
    """Whether `exc` means the connection is gone (so the connection must be discarded)."""
    if isinstance(exc, pymysql.err.InterfaceError | OSError):
        return True
    return isinstance(exc, pymysql.err.MySQLError) and error_code(exc) in CONNECTION_LOST


def reason(exc: pymysql.err.MySQLError) -> str:
    return str(exc.args[1]) if len(exc.args) > 1 else str(exc)


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except (pymysql.err.DataError, pymysql.err.IntegrityError) as exc:
        raise Refused(reason(exc)) from exc
    except (pymysql.err.MySQLError, OSError) as exc:
        if is_lost(exc) or (isinstance(exc, pymysql.err.MySQLError)
                            and error_code(exc) == ER_LOCK_WAIT_TIMEOUT):
            raise DatabaseUnavailable(reason(exc) if isinstance(exc, pymysql.err.MySQLError)
                                      else str(exc)) from exc
        raise
