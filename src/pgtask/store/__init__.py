"""The one I/O seam: only modules in this package execute SQL.

open_store(dsn) gives the runtime a Store (see base.py) for the DSN's backend.
"""

from __future__ import annotations

import psycopg

from pgtask.config import backend_of
from pgtask.models import ClaimedTask, EnqueueRequest, LogLine, Outcome, WorkerInfo
from pgtask.store.base import Store

# What "the database is away" looks like from either backend (MySQL's store raises
# ConnectionError/TimeoutError, both OSError): callers back off and retry on these.
DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, OSError)

__all__ = ["DB_ERRORS", "ClaimedTask", "EnqueueRequest", "LogLine", "Outcome", "Store", "WorkerInfo", "open_store"]


async def open_store(dsn: str, *, max_size: int = 4) -> Store:
    """An open Store for `dsn` (postgresql://... or mysql://...)."""
    if backend_of(dsn) == "mysql":
        from pgtask.store.mysql.store import MySQLStore

        store = MySQLStore(dsn, max_size=max_size)
    else:
        from pgtask.store.postgres.store import PostgresStore

        store = PostgresStore(dsn, max_size=max_size)
    await store.open()
    return store
