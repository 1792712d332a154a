"""The one I/O seam: only modules in this package import a driver or execute SQL.

make_store(dsn) gives the runtime a Store (see base.py) for the DSN's backend, open_store(dsn)
an open one; enqueue_connection(dsn) gives a command a driver connection to enqueue on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from pgtask.config import backend_of
from pgtask.errors import DatabaseUnavailable
from pgtask.models import Backend, ClaimedTask, EnqueueRequest, LogLine, Outcome, WorkerInfo
from pgtask.store.base import Store

__all__ = ["ClaimedTask", "EnqueueRequest", "LogLine", "Outcome", "Store",
           "Transaction", "WorkerInfo", "enqueue_connection", "make_store", "open_store"]


def make_store(dsn: str, *, max_size: int = 4, deadline: float | None = None) -> Store:
    """A Store for `dsn` (postgresql://... or mysql://...), not open yet: `await store.open()`.

    deadline: seconds a call may go unanswered before it is abandoned (a worker's store)."""
    if backend_of(dsn) == Backend.MYSQL:
        from pgtask.store.mysql.store import MySQLStore

        # checked against the protocol, as below
        return MySQLStore(dsn, max_size=max_size, deadline=deadline)
    from pgtask.store.postgres.store import PostgresStore

    return PostgresStore(dsn, max_size=max_size, deadline=deadline)


async def open_store(dsn: str, *, max_size: int = 4) -> Store:
    """An open Store for `dsn`."""
    store = make_store(dsn, max_size=max_size)
    await store.open()
    return store


class Transaction(Protocol):
    """A driver connection as enqueue_connection hands it out: pass it to pgtask.enqueue."""

    def commit(self) -> None: ...

    def close(self) -> None: ...


@contextmanager
def enqueue_connection(dsn: str) -> Iterator[Transaction]:
    """A connection of the DSN's driver for pgtask.enqueue: committed when the block ends
    without an exception, closed either way. An unreachable Postgres is DatabaseUnavailable
    (in the driver's own words), an unreachable MySQL a ConfigError; a failed commit comes
    out translated."""
    conn: Transaction
    translated: Callable[[], AbstractContextManager[None]]
    if backend_of(dsn) == Backend.MYSQL:
        from pgtask.store.mysql.errors import translated
        from pgtask.store.mysql.store import connect

        conn = connect(dsn)
    else:
        import psycopg  # here, not at the top: `import pgtask` stays free of any driver

        from pgtask.store.postgres.errors import translated

        try:
            conn = psycopg.connect(dsn)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(str(exc).strip()) from exc
    try:
        yield conn
        with translated():
            conn.commit()
    finally:
        conn.close()
