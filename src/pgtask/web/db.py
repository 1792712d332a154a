"""The web app's way into the database: a small psycopg pool used from worker threads.

Why sync psycopg in threads rather than an AsyncConnectionPool: every query the app runs
already exists as a sync function in pgtask.store (inspect, admin, web_pg) that the CLI
uses too; running them in Starlette's thread pool reuses them unchanged. The cost is a
thread hop per request (tens of microseconds, measured in bench/web_post.py), small next
to the round trip itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from pgtask.ops.snapshot import Snapshot, from_rows
from pgtask.ops.window import Window
from pgtask.store.postgres.inspect import top_rows

T = TypeVar("T")


class Database:
    """A pool opened on first use (a mounted app gets no lifespan events from its parent)."""

    def __init__(self, dsn: str, max_size: int = 8, timeout: float = 10.0) -> None:
        self.dsn = dsn
        self._max_size = max_size
        self._timeout = timeout
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> ConnectionPool:
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.dsn, min_size=1, max_size=self._max_size, open=False,
                    name="pgtask-web", timeout=self._timeout,
                    kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 5})
                self._pool.open(wait=False)
            return self._pool

    def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = None,
             **kwargs: Any) -> T:
        """fn(connection, *args, **kwargs) on a pooled autocommit dict-row connection."""
        with self._get_pool().connection(timeout=timeout) as conn:
            return fn(conn, *args, **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """call() in a worker thread, so the event loop never waits on the database."""
        return await run_in_threadpool(self.call, fn, *args, **kwargs)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


class Snapshots:
    """The `pgtask top` snapshot (queues, rates, workers), shared by the dashboard, the API
    and /metrics, and taken at most once per `max_age` seconds however many clients poll.

    The window keeps the last five minutes of finished work between refreshes, so each one
    reads only what finished since the previous (see console/window.py).
    """

    def __init__(self, db: Database, max_age: float = 1.0) -> None:
        self._db = db
        self._max_age = max_age
        self._window = Window()
        self._lock = threading.Lock()
        self._last: Snapshot | None = None
        self._taken = 0.0

    def take(self) -> Snapshot:
        with self._lock:
            if self._last is None or time.monotonic() - self._taken >= self._max_age:
                rows = self._db.call(top_rows, since=self._window.until)
                self._last = from_rows(rows, self._window)
                self._taken = time.monotonic()
            return self._last

    async def get(self) -> Snapshot:
        return await run_in_threadpool(self.take)
