"""The MySQL / MariaDB store: the same Store as Postgres, over PyMySQL.

PyMySQL is a blocking driver, so the event loop never calls it: every operation is one
transaction (mysql_claim, mysql_tx, mysql_enqueue) run on a small thread pool of our own, each thread holding one
connection. Our own pool, not the loop's default executor, because the runtime runs sync
handlers in threads too, and a slow handler must never delay a heartbeat or a claim.
Threads cost one OS thread and one connection each, which is what a connection pool costs
anyway; the round trips, not the thread hops (~50 us), bound the rate (see bench/).

No LISTEN/NOTIFY on MySQL: supports_notify is False and the runner polls with
pgtask.worker.polling.AdaptivePolling.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit
from uuid import UUID

import pymysql
from pymysql.constants import CLIENT, FIELD_TYPE
from pymysql.converters import conversions, convert_datetime

from pgtask.config import backend_of, redact_dsn
from pgtask.errors import ConfigError
from pgtask.models import ClaimedTask, EnqueueRequest, LogLine, Outcome, WorkerInfo
from pgtask.store.mysql import tx as mysql_tx
from pgtask.store.mysql.claim import claim
from pgtask.store.mysql.enqueue import enqueue_on
from pgtask.store.mysql.sql import SESSION_SETUP

__all__ = ["MySQLStore", "connect", "connect_params", "enqueue_on"]

T = TypeVar("T")
ER_LOCK_DEADLOCK = 1213  # InnoDB rolled the whole transaction back: safe to run it again
DEADLOCK_ATTEMPTS = 3
# Errors that mean the connection is gone (can't connect, gone away, lost, killed, server
# shutting down, idle timeout): surfaced as ConnectionError, which the runner retries.
CONNECTION_LOST = {2003, 2006, 2013, 2055, 1053, 1927, 4031}
ER_LOCK_WAIT_TIMEOUT = 1205  # surfaced as TimeoutError, which the runner retries too


def _datetime(text: str) -> datetime | str:
    """DATETIME columns, 20x faster than PyMySQL's regex (a claim reads several per task)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # zero dates and other oddities: PyMySQL's own handling
        return convert_datetime(text)


CONVERSIONS = {**conversions, FIELD_TYPE.DATETIME: _datetime}
_URL_OPTIONS = {"unix_socket": str, "connect_timeout": int, "ssl_ca": str, "ssl_cert": str,
                "ssl_key": str}


def connect_params(dsn: str) -> dict[str, Any]:
    """PyMySQL connect() arguments from mysql://user:password@host:port/database?options."""
    if backend_of(dsn) != "mysql" or "://" not in dsn:
        raise ConfigError(f"not a MySQL URL: {redact_dsn(dsn)}")
    parts = urlsplit(dsn)
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ConfigError(f"no database name in {redact_dsn(dsn)}: use mysql://user:pass@host/dbname")
    try:
        port = parts.port or 3306
    except ValueError:
        raise ConfigError(f"bad port in {redact_dsn(dsn)}") from None
    params: dict[str, Any] = {
        "host": parts.hostname or "localhost", "port": port, "database": database,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else "",
        "charset": "utf8mb4",
    }
    for key, value in parse_qsl(parts.query):
        if key not in _URL_OPTIONS:
            raise ConfigError(f"unknown option {key!r} in {redact_dsn(dsn)} "
                              f"(known: {', '.join(sorted(_URL_OPTIONS))})")
        params[key] = _URL_OPTIONS[key](value)
    return params


def connect(dsn: str, **overrides: Any) -> pymysql.connections.Connection:
    """A PyMySQL connection for `dsn`; connection failures become a readable ConfigError."""
    try:
        return pymysql.connect(**{**connect_params(dsn), **overrides})
    except pymysql.err.MySQLError as exc:
        reason = exc.args[1] if len(exc.args) > 1 else str(exc)
        raise ConfigError(f"cannot connect to {redact_dsn(dsn)}: {reason}") from None


class MySQLStore:
    """The runtime's view of a MySQL/MariaDB database (see store.base.Store)."""

    backend = "mysql"
    supports_notify = False

    def __init__(self, dsn: str, *, max_size: int = 4) -> None:
        self.dsn = dsn
        connect_params(dsn)  # refuse a bad URL now, not in a worker thread
        self._max_size = max_size
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._connections: list[pymysql.connections.Connection] = []
        self._lock = threading.Lock()

    async def open(self, timeout: float = 15.0) -> None:
        self._executor = ThreadPoolExecutor(self._max_size, thread_name_prefix="pgtask-mysql")
        try:
            await asyncio.wait_for(self._run(lambda conn: None), timeout)
        except BaseException as exc:
            await self.close()
            where = redact_dsn(self.dsn)
            if isinstance(exc, TimeoutError):
                raise ConfigError(f"cannot connect to {where} within {timeout:g}s") from None
            cause = exc.__cause__ if isinstance(exc, ConnectionError) else exc
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

    def _connection(self) -> pymysql.connections.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = pymysql.connect(**connect_params(self.dsn), autocommit=False,
                                   client_flag=CLIENT.FOUND_ROWS, conv=CONVERSIONS)
            with conn.cursor() as cur:
                for statement in SESSION_SETUP:
                    cur.execute(statement)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _discard(self, conn: pymysql.connections.Connection) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        _close_quietly(conn)

    def _transact(self, operation: Callable[..., T], args: tuple) -> T:
        """Run `operation(conn, *args)` as one transaction on this thread's connection."""
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            conn = None
            try:
                conn = self._connection()
                result = operation(conn, *args)
                conn.commit()
                return result
            except BaseException as exc:
                code = exc.args[0] if isinstance(exc, pymysql.err.MySQLError) and exc.args else None
                lost = isinstance(exc, pymysql.err.InterfaceError) or code in CONNECTION_LOST
                if conn is not None:
                    self._end(conn, lost)
                if lost:
                    raise ConnectionError(f"MySQL connection to {redact_dsn(self.dsn)} lost: "
                                          f"{exc}") from exc
                if code == ER_LOCK_WAIT_TIMEOUT:
                    raise TimeoutError(f"MySQL lock wait timeout: {exc}") from exc
                if code != ER_LOCK_DEADLOCK or attempt == DEADLOCK_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _end(self, conn: pymysql.connections.Connection, lost: bool) -> None:
        """After a failure: roll back, or drop a dead connection (the next call reconnects)."""
        if not lost:
            try:
                conn.rollback()
                return
            except Exception:  # broken after all
                pass
        self._discard(conn)

    async def _run(self, operation: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("MySQLStore is not open: await store.open() first")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transact, operation, args)

    # -- the Store protocol ---------------------------------------------------------------

    async def claim(self, queues: Sequence[str] | None, worker_id: str, batch: int,
                    task_types: Sequence[str] | None,
                    with_targets: bool = False) -> list[ClaimedTask]:
        return await self._run(claim, queues, worker_id, batch, task_types, with_targets)

    async def finish(self, outcomes: Sequence[Outcome], logs: Sequence[LogLine] = ()) -> set[int]:
        if not outcomes and not logs:
            return set()
        return await self._run(mysql_tx.finish, outcomes, logs)

    async def heartbeat(self, worker_id: str, held: Sequence[tuple[int, UUID]]) -> set[int]:
        return await self._run(mysql_tx.heartbeat, worker_id, held)

    async def register_worker(self, info: WorkerInfo) -> None:
        await self._run(mysql_tx.register_worker, info)

    async def deregister_worker(self, worker_id: str) -> None:
        await self._run(mysql_tx.deregister_worker, worker_id)

    async def maintain(self, retention: timedelta | None) -> None:
        await self._run(mysql_tx.maintain, retention)

    async def vacuum_hot_table(self, truncate: bool = True) -> bool:
        """Nothing to do: InnoDB's purge thread removes old row versions by itself."""
        return False

    async def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[int]:
        return await self._run(enqueue_on, requests)

    # -- operations (pgtask.cancel_task, retry_task, prune on Postgres) -------------------

    async def cancel(self, task_id: int, reason: str | None = None) -> bool:
        return await self._run(mysql_tx.cancel, task_id, reason)

    async def retry(self, task_id: int) -> bool:
        return await self._run(mysql_tx.retry, task_id)

    async def prune(self, older_than: timedelta) -> int:
        return await self._run(mysql_tx.prune, older_than)


def _close_quietly(conn: pymysql.connections.Connection) -> None:
    try:
        conn.close()
    except Exception:  # already closed or the socket is dead; nothing to save
        pass
