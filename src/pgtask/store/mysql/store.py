"""The MySQL / MariaDB store: the same Store as Postgres, over PyMySQL.

PyMySQL is a blocking driver, so the event loop never calls it: every operation is one
transaction (claim.py, tx.py, enqueue.py) run on a small thread pool of our own, each thread
holding one connection. Our own pool, not the loop's default executor, because the runtime
runs sync handlers in threads too, and a slow handler must never delay a heartbeat or a
claim. Threads cost one OS thread and one connection each, which is what a connection pool
costs anyway; the round trips, not the thread hops (~50 us), bound the rate (see bench/).

No LISTEN/NOTIFY on MySQL, nor schedules, the HTTP journal, groups, the done-stream, the web
app or vacuuming: `capabilities` is empty, the runner polls with
pgtask.worker.polling.AdaptivePolling, and what needs a capability raises Unsupported.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar
from uuid import UUID

import pymysql
from pymysql.connections import Connection
from pymysql.constants import CLIENT

from pgtask.config import redact_dsn
from pgtask.errors import ConfigError, DatabaseUnavailable
from pgtask.models import (
    Backend,
    ClaimedTask,
    ClaimWait,
    EnqueueRequest,
    Finished,
    HttpAttempt,
    LogLine,
    Outcome,
    QueuePolicy,
    WorkerInfo,
)
from pgtask.store.base import CAPABILITIES, Capability, Listener, require
from pgtask.store.mysql import http as mysql_http
from pgtask.store.mysql import tx as mysql_tx
from pgtask.store.mysql.claim import claim, claim_wait
from pgtask.store.mysql.connect import CONVERSIONS, connect, connect_params
from pgtask.store.mysql.enqueue import enqueue_on
from pgtask.store.mysql.errors import (
    CONNECTION_LOST,
    ER_LOCK_DEADLOCK,
    ER_LOCK_WAIT_TIMEOUT,
    error_code,
    is_lost,
    translated,
)
from pgtask.store.mysql.sql import SESSION_SETUP
from pgtask.store.mysql.task_types import register as register_task_types
from pgtask.store.pruning import DEFAULT_BATCH_SIZE, WORKER_BUDGET, aprune_in_batches

# Re-exported: the callers of an earlier layout import these from here.
__all__ = ["CONNECTION_LOST", "CONVERSIONS", "MySQLStore", "connect", "connect_params",
           "enqueue_on"]

SLOW_MIN = 120.0  # seconds, as the Postgres store gives its maintenance calls
SLOW_FACTOR = 40
T = TypeVar("T")
P = ParamSpec("P")
DEADLOCK_ATTEMPTS = 3


class MySQLStore:
    """The runtime's view of a MySQL/MariaDB database (see store.base.Store)."""

    backend: Backend = Backend.MYSQL
    capabilities: frozenset[Capability] = CAPABILITIES[Backend.MYSQL]

    def __init__(self, dsn: str, *, max_size: int = 4, deadline: float | None = None) -> None:
        """deadline: a worker's store gives up on a socket that carries nothing for this
        long. PyMySQL's timeouts hold per connection, and one connection also runs the
        maintenance (a prune can take minutes), so the MySQL fallback uses the long one."""
        self.dsn = dsn
        connect_params(dsn)  # refuse a bad URL now, not in a worker thread
        self._max_size = max_size
        self._timeout = None if deadline is None else max(SLOW_MIN, SLOW_FACTOR * deadline)
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._connections: list[Connection[Any]] = []
        self._lock = threading.Lock()

    async def open(self, timeout: float = 15.0) -> None:
        self._executor = ThreadPoolExecutor(self._max_size, thread_name_prefix="pgtask-mysql")
        try:
            await asyncio.wait_for(self._run(_nothing), timeout)
        except BaseException as exc:
            await self.close()
            where = redact_dsn(self.dsn)
            if isinstance(exc, TimeoutError):
                raise ConfigError(f"cannot connect to {where} within {timeout:g}s") from None
            cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) else exc
            if isinstance(cause, pymysql.err.MySQLError):  # refused, access denied, no database
                raise ConfigError(f"cannot connect to {where}: {cause.args[-1]}") from None
            raise

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, True)
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            _close_quietly(conn)

    # -- the thread side ------------------------------------------------------------------

    def _connection(self) -> Connection[Any]:
        conn: Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = pymysql.connect(**connect_params(self.dsn), autocommit=False,
                                   client_flag=CLIENT.FOUND_ROWS, conv=CONVERSIONS,
                                   read_timeout=self._timeout, write_timeout=self._timeout)
            with conn.cursor() as cur:
                for statement in SESSION_SETUP:
                    cur.execute(statement)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _discard(self, conn: Connection[Any]) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        _close_quietly(conn)

    def _transact(self, work: Callable[[Connection[Any]], T]) -> T:
        """Run `work(conn)` as one transaction on this thread's connection."""
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            conn = None
            try:
                conn = self._connection()
                result = work(conn)
                conn.commit()
                return result
            except BaseException as exc:
                lost = is_lost(exc)
                if conn is not None:
                    self._end(conn, lost)
                if lost:
                    raise DatabaseUnavailable(f"MySQL connection to {redact_dsn(self.dsn)} "
                                              f"lost: {exc}") from exc
                if error_code(exc) == ER_LOCK_WAIT_TIMEOUT:
                    raise DatabaseUnavailable(f"MySQL lock wait timeout: {exc}") from exc
                if error_code(exc) != ER_LOCK_DEADLOCK or attempt == DEADLOCK_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _end(self, conn: Connection[Any], lost: bool) -> None:
        """After a failure: roll back, or drop a dead connection (the next call reconnects)."""
        if not lost:
            try:
                conn.rollback()
                return
            except Exception:  # broken after all
                pass
        self._discard(conn)

    async def _run(self, operation: Callable[Concatenate[Connection[Any], P], T],
                   *args: P.args, **kwargs: P.kwargs) -> T:
        """`operation(conn, *args, **kwargs)` in one transaction on the store's threads."""
        if self._executor is None:
            raise RuntimeError("MySQLStore is not open: await store.open() first")
        loop = asyncio.get_running_loop()
        with translated():
            return await loop.run_in_executor(
                self._executor, self._transact, lambda conn: operation(conn, *args, **kwargs))

    def _refuse(self, capability: Capability) -> NoReturn:
        require(self, capability)
        raise AssertionError(f"MySQLStore declares {capability.name} but does not implement it")

    # -- claim, finish, heartbeat, workers -------------------------------------------------

    async def claim(self, queues: Sequence[str] | None, worker_id: str, batch: int,
                    task_types: Sequence[str] | None,
                    with_targets: bool = False) -> list[ClaimedTask]:
        return await self._run(claim, queues, worker_id, batch, task_types, with_targets)

    async def claim_wait(self, queues: Sequence[str] | None, task_types: Sequence[str] | None,
                         with_targets: bool = False) -> ClaimWait:
        return await self._run(claim_wait, queues)

    async def finish(self, outcomes: Sequence[Outcome], logs: Sequence[LogLine] = ()) -> Finished:
        """Record outcomes and logs in one transaction. No next_due_in: the adaptive poll
        comes back soon enough after a requeue."""
        if not outcomes and not logs:
            return Finished(set())
        return Finished(await self._run(mysql_tx.finish, outcomes, logs))

    async def database_time(self) -> datetime:
        return await self._run(mysql_tx.database_time)

    async def database_id(self) -> str:
        return await self._run(mysql_tx.database_id)

    async def heartbeat(self, worker_id: str, held: Sequence[tuple[int, UUID]]) -> set[int]:
        return await self._run(mysql_tx.heartbeat, worker_id, held)

    async def register_worker(self, info: WorkerInfo) -> None:
        await self._run(mysql_tx.register_worker, info)

    async def deregister_worker(self, worker_id: str) -> None:
        await self._run(mysql_tx.deregister_worker, worker_id)

    async def register_task_types(self, worker_id: str,
                                  definitions: Sequence[Mapping[str, Any]]) -> int:
        return await self._run(register_task_types, worker_id, definitions)

    async def set_worker_waiting(self, worker_id: str, waiting: bool) -> None:
        self._refuse(Capability.NOTIFY)  # only NOTIFY wakes a waiting worker

    def listener(self, channels: Sequence[str]) -> Listener:
        self._refuse(Capability.NOTIFY)

    # -- maintenance, enqueue, operations -------------------------------------------------

    async def maintain(self, retention: timedelta | None,
                       prune_budget: float | None = WORKER_BUDGET) -> bool:
        return await self._run(mysql_tx.maintain, retention, prune_budget)

    async def vacuum_hot_table(self, truncate: bool = True) -> bool:
        """Nothing to do: InnoDB's purge thread removes old row versions by itself."""
        return False

    async def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[int]:
        return await self._run(enqueue_on, requests)

    async def cancel(self, task_id: int, reason: str | None = None) -> bool:
        return await self._run(mysql_tx.cancel, task_id, reason)

    async def retry(self, task_id: int) -> bool:
        return await self._run(mysql_tx.retry, task_id)

    async def prune(self, older_than: timedelta, batch_size: int = DEFAULT_BATCH_SIZE,
                    budget: float | None = None) -> int:
        """In batches, each its own transaction and its own trip to the store's threads."""
        cutoff = await self._run(mysql_tx.prune_cutoff, older_than)

        async def batch(size: int) -> int:
            return await self._run(mysql_tx.prune_batch, cutoff, size)
        return (await aprune_in_batches(batch, batch_size, budget)).total

    # -- HTTP targets: queue policies (store/mysql/http.py); no journal, no shared rate ----

    async def queue_policies(self, names: Sequence[str] | None = None) -> dict[str, QueuePolicy]:
        return await self._run(mysql_http.queue_policies, names)

    async def attempt_history(self, task_ids: Sequence[int]) -> dict[int, tuple[int, int | None]]:
        self._refuse(Capability.HTTP_JOURNAL)

    async def record_http_attempts(self, attempts: Sequence[HttpAttempt],
                                   rates: Mapping[str, float | None] | None = None
                                   ) -> datetime | None:
        self._refuse(Capability.HTTP_JOURNAL)


def _nothing(conn: Connection[Any]) -> None:
    """Opening: prove a connection can be made (and its session set up)."""


def _close_quietly(conn: Connection[Any]) -> None:
    try:
        conn.close()
    except Exception:  # already closed or the socket is dead; nothing to save
        pass
