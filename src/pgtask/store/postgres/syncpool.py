"""A sync connection pool that lends a store.base.Browser per call, from any thread.

Why sync psycopg in threads rather than an AsyncConnectionPool: every query the web app runs
already exists as a sync function (inspect, admin, browse, metrics) that the CLI uses too;
running them in Starlette's thread pool reuses them unchanged. The cost is a thread hop per
request (tens of microseconds, measured in bench/web_post.py), small next to the round trip.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from pgtask.models import Backend, EnqueueRequest
from pgtask.store.base import CAPABILITIES, Browser, BrowserPool, Capability, Row, require, served
from pgtask.store.operators import ConnectionOperator
from pgtask.store.postgres import browse, decode, metrics
from pgtask.store.postgres.browse import Connection
from pgtask.store.postgres.errors import translated
from pgtask.store.postgres.operator import QUERIES
from pgtask.store.postgres.pool import network


class PostgresBrowser(ConnectionOperator):
    """store.base.Browser on one pooled connection: the Operator queries of operator.py plus
    browse.py's and metrics.py's, each with its driver errors translated."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn, QUERIES)
        self._conn = conn  # the same connection, with its row type known

    def close(self) -> None:
        """Nothing: the connection goes back to the pool when the session ends."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with translated(), self._conn.transaction():
            yield

    def enqueue_returning(self, request: EnqueueRequest) -> tuple[Row, bool]:
        return self._run(browse.enqueue_returning, request)

    def task_row(self, task_id: int) -> Row | None:
        return self._run(browse.task_row, task_id)

    def list_page(self, *, state: str | None = None, queue: str | None = None,
                  task_type: str | None = None, after: int | None = None,
                  before: int | None = None, limit: int = 100) -> list[Row]:
        return self._run(browse.list_page, state=state, queue=queue, task_type=task_type,
                         after=after, before=before, limit=limit)

    def recent_failures(self, limit: int = 20) -> list[Row]:
        return self._run(browse.recent_failures, limit)

    def chain(self, task: Mapping[str, Any]) -> Row:
        return self._run(browse.chain, task)

    def schema_revision(self) -> str | None:
        return self._run(browse.schema_revision)

    def start_marks(self) -> Row:
        return self._run(metrics.start_marks)

    def metrics_rows(self, since: datetime, last_id: int,
                     bounds: Sequence[float]) -> dict[str, list[Row]]:
        return self._run(metrics.metrics_rows, since, last_id, bounds)


class PostgresBrowserPool:
    """store.base.BrowserPool: opened on first use (a mounted app gets no lifespan events
    from its parent), autocommit dict-row connections, at most `max_size` of them."""

    backend = Backend.POSTGRES
    capabilities = CAPABILITIES[Backend.POSTGRES]

    def __init__(self, dsn: str, max_size: int = 8, timeout: float = 10.0) -> None:
        self.dsn = dsn
        self._max_size = max_size
        self._timeout = timeout  # how long a call waits for a free connection
        self._pool: ConnectionPool[Connection] | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> ConnectionPool[Connection]:
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.dsn, min_size=1, max_size=self._max_size, open=False,
                    name="pgtask-web", timeout=self._timeout,
                    kwargs={"autocommit": True, "row_factory": dict_row, **network()},
                    configure=decode.register)
                self._pool.open(wait=False)
            return self._pool

    @contextmanager
    def session(self, timeout: float | None = None) -> Iterator[Browser]:
        # translated() covers the checkout too: a pool timeout is DatabaseUnavailable.
        with translated(), self._get_pool().connection(timeout=timeout) as conn:
            yield PostgresBrowser(conn)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def open_browsers(dsn: str, *, max_size: int = 8, timeout: float = 10.0) -> BrowserPool:
    """A BrowserPool on `dsn` (nothing connects before the first session); a DSN of a
    backend without Capability.WEB is refused at once (Unsupported)."""
    require(served(dsn), Capability.WEB)
    return PostgresBrowserPool(dsn, max_size=max_size, timeout=timeout)


# Checked by mypy: the classes above are the protocols the web app is typed against.
_BROWSER: type[Browser] = PostgresBrowser
_POOL: type[BrowserPool] = PostgresBrowserPool
