"""The Postgres store: the runtime's only way into the database (store.base.Store).

Every call is one round trip to one PL/pgSQL function (see sql/postgres/pgtask.sql).
Connections come from a small psycopg pool in autocommit mode: each call is its own
transaction, so no lock outlives the statement that took it. Every call runs inside
errors.translated(): callers see DatabaseUnavailable and Refused, never a psycopg class.
A worker's store gives every call a deadline (deadline.py): a call the server does not
answer is abandoned with its connection, and the pool is replaced, because the other
connections went over the same path and are as likely to be dead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout

from pgtask.config import redact_dsn
from pgtask.errors import ConfigError
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
from pgtask.store.base import CAPABILITIES, Capability
from pgtask.store.locks import MAINTENANCE_LOCK_KEY, VACUUM_LOCK_KEY
from pgtask.store.postgres import http
from pgtask.store.postgres import queries as q
from pgtask.store.postgres.deadline import NoAnswer, deadline
from pgtask.store.postgres.enqueue import aenqueue_on, enqueue_on
from pgtask.store.postgres.errors import translated
from pgtask.store.postgres.listen import PostgresListener
from pgtask.store.postgres.pool import Connection, Pool, make_pool, scalar
from pgtask.store.postgres.queries import CLAIM, FINISH  # re-exported, see __all__
from pgtask.store.pruning import DEFAULT_BATCH_SIZE, WORKER_BUDGET, aprune_in_batches

# Re-exported: the callers of an earlier layout import these from here.
__all__ = ["CLAIM", "FINISH", "PostgresListener", "PostgresStore", "aenqueue_on", "enqueue_on"]

log = logging.getLogger("pgtask.worker")
SLOW_MIN = 120.0  # seconds: the least a maintenance or vacuum call is given
SLOW_FACTOR = 40


class PostgresStore:
    """The runtime's view of a Postgres database: it can do everything a Store declares."""

    backend: Backend = Backend.POSTGRES
    capabilities: frozenset[Capability] = CAPABILITIES[Backend.POSTGRES]

    def __init__(self, dsn: str, *, max_size: int = 4, deadline: float | None = None) -> None:
        """deadline: seconds a call may go unanswered (None: no limit). Maintenance and
        vacuum get longer (SLOW_FACTOR times, at least SLOW_MIN): a prune of a big history
        legitimately takes seconds."""
        self.dsn = dsn
        self._max_size = max_size
        self._pool = make_pool(dsn, max_size)
        self._deadline = deadline
        self._slow = None if deadline is None else max(SLOW_MIN, SLOW_FACTOR * deadline)
        self._retired: set[asyncio.Task[None]] = set()  # old pools closing in the background
        self._may_vacuum: bool | None = None  # asked once, at the first vacuum

    async def open(self, timeout: float = 15.0) -> None:
        try:
            await self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            await self._pool.close()
            raise ConfigError(f"cannot connect to {redact_dsn(self.dsn)} "
                              f"within {timeout:g}s") from exc

    async def close(self) -> None:
        # Bounded: its workers may be stuck connecting over a dead path; they are abandoned.
        await self._pool.close(timeout=0.5)
        if self._retired:
            await asyncio.wait(self._retired)

    def listener(self, channels: Sequence[str]) -> PostgresListener:
        return PostgresListener(self.dsn, channels)

    async def _retire(self, pool: Pool) -> None:
        """Replace a pool whose path went silent (once, however many calls noticed)."""
        if pool is not self._pool:
            return
        log.warning("the database stopped answering; opening new connections",
                    extra={"event": "db.stalled"})
        fresh = make_pool(self.dsn, self._max_size)
        await fresh.open(wait=False)  # connects in the background
        self._pool = fresh
        # Connections still lent out are closed as they come back; waiting for the old
        # pool's own workers is bounded, since they may be stuck connecting over the path.
        closing = asyncio.create_task(pool.close(timeout=1.0))
        self._retired.add(closing)
        closing.add_done_callback(self._retired.discard)

    @asynccontextmanager
    async def _connection(self, slow: bool = False) -> AsyncIterator[Connection]:
        """A pooled connection for a block that must finish within the call's deadline
        (counted from checkout: waiting for a free connection is the pool's own timeout);
        whatever the block raises comes out translated. A connection dropped for want of
        an answer retires the whole pool (the others went over the same path)."""
        pool = self._pool
        with translated():
            async with pool.connection() as conn:
                try:
                    async with deadline(self._slow if slow else self._deadline):
                        yield conn
                except NoAnswer:
                    if conn.closed:  # dropped, not just cancelled: the path is suspect
                        await self._retire(pool)
                    raise

    async def _call(self, statement: str, *args: object) -> Any:
        """The one value `statement` returns."""
        async with self._connection() as conn:
            return await scalar(await conn.execute(statement, args))

    async def database_time(self) -> datetime:
        now: datetime = await self._call(q.NOW)
        return now

    async def database_id(self) -> str:
        database_id: str = await self._call(q.DATABASE_ID)
        return database_id

    # -- claim and finish ------------------------------------------------------------------

    async def claim(self, queues: Sequence[str] | None, worker_id: str, batch: int,
                    task_types: Sequence[str] | None,
                    with_targets: bool = False) -> list[ClaimedTask]:
        async with self._connection() as conn:
            cur = await conn.execute(q.CLAIM, (queues, worker_id, batch, task_types, with_targets))
            return [ClaimedTask(*row) for row in await cur.fetchall()]

    async def claim_wait(self, queues: Sequence[str] | None, task_types: Sequence[str] | None,
                         with_targets: bool = False) -> ClaimWait:
        async with self._connection() as conn:
            cur = await conn.execute(q.CLAIM_WAIT, (queues, task_types, with_targets))
            row = await cur.fetchone()
        return ClaimWait() if row is None else ClaimWait(row[0], bool(row[1]), bool(row[2]))

    async def finish(self, outcomes: Sequence[Outcome], logs: Sequence[LogLine] = ()) -> Finished:
        """Record outcomes and logs in one round trip (a pipeline). next_due_in: seconds until
        the earliest retried or snoozed task is due, so the runner can wake for it instead of
        waiting for its next poll (a requeue sends no NOTIFY)."""
        if not outcomes and not logs:
            return Finished(set())
        requeued = [o.id for o in outcomes if o.kind in ("failed", "snoozed")]
        async with self._connection() as conn:
            async with conn.pipeline():
                if logs:
                    await conn.execute(q.APPEND_LOGS, (
                        [x.task_id for x in logs], [x.attempt for x in logs],
                        [x.at for x in logs], [x.level for x in logs], [x.message for x in logs]))
                if not outcomes:
                    return Finished(set())
                cur = await conn.execute(q.FINISH, (
                    [o.id for o in outcomes], [o.lease_token for o in outcomes],
                    [o.kind for o in outcomes],
                    [None if o.result is None else Jsonb(o.result) for o in outcomes],
                    [o.error for o in outcomes], [o.delay for o in outcomes]))
                due = await conn.execute(q.NEXT_DUE, (requeued,)) if requeued else None
            applied = {row[0] for row in await cur.fetchall()}
            seconds = None if due is None else await scalar(due)
            return Finished(applied, None if seconds is None else float(seconds))

    async def heartbeat(self, worker_id: str, held: Sequence[tuple[int, UUID]]) -> set[int]:
        async with self._connection() as conn:
            cur = await conn.execute(
                q.HEARTBEAT, (worker_id, [i for i, _ in held], [t for _, t in held]))
            return {row[0] for row in await cur.fetchall()}

    # -- workers -------------------------------------------------------------------------

    async def register_worker(self, info: WorkerInfo) -> None:
        async with self._connection() as conn:
            await conn.execute(q.REGISTER, (info.id, info.host, info.pid, info.queues,
                                          info.task_types, info.concurrency))

    async def set_worker_waiting(self, worker_id: str, waiting: bool) -> None:
        async with self._connection() as conn:
            await conn.execute(q.SET_WAITING, (worker_id, waiting))

    async def deregister_worker(self, worker_id: str) -> None:
        async with self._connection() as conn:
            await conn.execute(q.DEREGISTER, (worker_id,))

    async def register_task_types(self, worker_id: str,
                                  definitions: Sequence[Mapping[str, Any]]) -> int:
        async with self._connection() as conn:
            cur = await conn.execute(q.REGISTER_TASK_TYPES,
                                     (worker_id, json.dumps(list(definitions))))
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    # -- maintenance ---------------------------------------------------------------------

    async def maintain(self, retention: timedelta | None,
                       prune_budget: float | None = WORKER_BUDGET) -> bool:
        """Rescue, then prune in batches (store/pruning.py) for about `prune_budget` seconds,
        each batch its own transaction under the maintenance lock again: no transaction
        outlives one batch, and another worker's maintenance may take over in between."""
        async with self._connection(slow=True) as conn, conn.transaction():
            locked = await conn.execute(q.TRY_MAINTENANCE_LOCK, (MAINTENANCE_LOCK_KEY,))
            if not await scalar(locked):
                return False  # another worker is doing it
            await conn.execute(q.RESCUE)
        if retention is None:
            return False

        async def batch(size: int) -> int:
            return await self._prune_batch(retention, size, exclusive=True)
        return (await aprune_in_batches(batch, DEFAULT_BATCH_SIZE, prune_budget)).more

    async def _prune_batch(self, older_than: timedelta, batch_size: int,
                           exclusive: bool = False) -> int:
        """One pgtask.prune_batch in its own transaction; exclusive: only while holding the
        maintenance lock (0 when another worker holds it: that one prunes)."""
        async with self._connection(slow=True) as conn, conn.transaction():
            if exclusive:
                locked = await conn.execute(q.TRY_MAINTENANCE_LOCK, (MAINTENANCE_LOCK_KEY,))
                if not await scalar(locked):
                    return 0
            return int(await scalar(await conn.execute(q.PRUNE_BATCH, (older_than, batch_size))))

    async def vacuum_hot_table(self, truncate: bool = True) -> bool:
        """VACUUM pgtask.tasks unless another worker is at it (then False).

        A role that may not vacuum it (not its owner) skips this; autovacuum, with the
        table's own thresholds, still does the job.
        """
        async with self._connection(slow=True) as conn:
            if self._may_vacuum is None:
                self._may_vacuum = bool(await scalar(await conn.execute(q.MAY_VACUUM)))
                if not self._may_vacuum:
                    log.info("this role may not vacuum pgtask.tasks: autovacuum keeps it small",
                             extra={"event": "vacuum.not_permitted"})
            if not self._may_vacuum:
                return False
            if not await scalar(await conn.execute(q.TRY_VACUUM_LOCK, (VACUUM_LOCK_KEY,))):
                return False
            try:
                await conn.execute(q.VACUUM_HOT_TABLE[truncate])
            finally:
                await conn.execute(q.VACUUM_UNLOCK, (VACUUM_LOCK_KEY,))
            return True

    # -- enqueue and operations ------------------------------------------------------------

    async def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[int]:
        async with self._connection() as conn:
            return await aenqueue_on(conn, requests)

    async def cancel(self, task_id: int, reason: str | None = None) -> bool:
        return bool(await self._call(q.CANCEL, task_id, reason))

    async def retry(self, task_id: int) -> bool:
        return bool(await self._call(q.RETRY, task_id))

    async def prune(self, older_than: timedelta, batch_size: int = DEFAULT_BATCH_SIZE,
                    budget: float | None = None) -> int:
        async def batch(size: int) -> int:
            return await self._prune_batch(older_than, size)
        return (await aprune_in_batches(batch, batch_size, budget)).total

    # -- HTTP targets: store/postgres/http.py --------------------------------------------

    async def queue_policies(self, names: Sequence[str] | None = None) -> dict[str, QueuePolicy]:
        async with self._connection() as conn:
            return await http.queue_policies(conn, names)

    async def attempt_history(self, task_ids: Sequence[int]) -> dict[int, tuple[int, int | None]]:
        async with self._connection() as conn:
            return await http.attempt_history(conn, task_ids)

    async def record_http_attempts(self, attempts: Sequence[HttpAttempt],
                                   rates: Mapping[str, float | None] | None = None
                                   ) -> datetime | None:
        async with self._connection() as conn:
            return await http.record_http_attempts(conn, attempts, rates)
