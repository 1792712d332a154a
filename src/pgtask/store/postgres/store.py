"""The Postgres store: the runtime's only way into the database.

Every call is one round trip to one PL/pgSQL function (see sql/postgres/pgtask.sql).
Connections come from a small psycopg pool in autocommit mode: each call is its own
transaction, so no lock outlives the statement that took it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from pgtask.config import redact_dsn
from pgtask.errors import ConfigError
from pgtask.models import ClaimedTask, EnqueueRequest, LogLine, Outcome, WorkerInfo
from pgtask.store.locks import MAINTENANCE_LOCK_KEY, VACUUM_LOCK_KEY

log = logging.getLogger("pgtask.worker")

# Seconds of silence before the kernel probes a TCP connection, and how hard it probes:
# a half-open socket is noticed in about 5 + 2 * 3 = 11 s even without our own ping.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}

CLAIM = """
select c.id, c.queue, c.task_type, c.payload, c.attempt,
       coalesce(c.max_attempts, q.max_attempts) as max_attempts,
       c.lease_token, c.run_at, c.created_at, c.attempted_at, c.idempotency_key, c.target_url
  from pgtask.claim_task(%s::text[], %s, %s, %s::text[], null, %s) c
  join pgtask.queues q on q.name = c.queue
"""
FINISH = """
select f.id from pgtask.finish_tasks(%s::bigint[], %s::uuid[], %s::text[], %s::jsonb[],
                                     %s::text[], %s::interval[]) f
"""
APPEND_LOGS = """
select pgtask.append_logs(%s::bigint[], %s::integer[], %s::timestamptz[], %s::text[], %s::text[])
"""
# When the earliest of the tasks just sent back to the queue is due (seconds from now).
NEXT_DUE = """
select extract(epoch from min(t.run_at) - now()) from pgtask.tasks t
 where t.id = any(%s::bigint[]) and t.state = 'queued'
"""
HEARTBEAT = "select h from pgtask.heartbeat(%s, %s::bigint[], %s::uuid[]) h"
REGISTER = "select pgtask.register_worker(%s, %s, %s, %s::text[], %s::text[], %s)"
DEREGISTER = "select pgtask.deregister_worker(%s)"
SET_WAITING = "select pgtask.set_worker_waiting(%s, %s)"
TRY_MAINTENANCE_LOCK = "select pg_try_advisory_xact_lock(%s)"
RESCUE = "select pgtask.rescue_tasks()"
PRUNE = "select pgtask.prune(%s)"
# A session-level lock (VACUUM cannot run inside a transaction): one vacuum at a time.
TRY_VACUUM_LOCK = "select pg_try_advisory_lock(%s)"
VACUUM_UNLOCK = "select pg_advisory_unlock(%s)"
# Under load, no truncation: cutting off empty pages at the end needs an exclusive lock that
# busy claimers rarely leave free, and VACUUM keeps trying for up to 5 s, during which no
# other vacuum runs (the sustained run peaked at 41 MB that way). When the queue is idle,
# it takes the lock at once and gives the space back.
VACUUM_HOT_TABLE = {True: "vacuum pgtask.tasks", False: "vacuum (truncate false) pgtask.tasks"}
# Whether this role may vacuum the hot table (its owner, a member of the owner's role, the
# database owner or a superuser): VACUUM would only warn otherwise, every time.
MAY_VACUUM = """
select r.rolsuper or pg_has_role(c.relowner, 'USAGE')
       or pg_has_role((select datdba from pg_database where datname = current_database()), 'USAGE')
  from pg_class c, pg_roles r
 where c.oid = 'pgtask.tasks'::regclass and r.rolname = current_user
"""
# Many tasks travel as one JSON array, unpacked in SQL: serialising one document costs the
# client ~3-4 us a task, against 11-18 us for eleven parallel arrays dumped element by
# element (20,000 tasks, side by side). run_at falls back to the database clock plus the
# request's delay: no client clock involved.
#
# The arrays are aggregated from a subquery sorted by position, the form PostgreSQL's manual
# gives for ordered aggregate input with no join above it: an "order by" inside each of the
# ten array_agg calls sorted the rows ten times on PostgreSQL 15 (~1 us a task of ~10).
ENQUEUE_MANY = """
select pgtask.enqueue_tasks(
  array_agg(r.task_type), array_agg(coalesce(r.payload, '{}')), array_agg(r.queue),
  array_agg(coalesce(r.run_at, now() + r.delay)), array_agg(r.priority),
  array_agg(r.idempotency_key), array_agg(r.max_attempts), array_agg(r.target_url),
  array_agg(r.on_success), array_agg(r.on_failure))
  from (select * from rows from (jsonb_to_recordset(%s::text::jsonb) as (
          task_type text, payload jsonb, queue text, run_at timestamptz, delay interval,
          priority integer, idempotency_key text, max_attempts integer, target_url text,
          on_success jsonb, on_failure jsonb))
        with ordinality as r(task_type, payload, queue, run_at, delay, priority,
                             idempotency_key, max_attempts, target_url, on_success,
                             on_failure, n)
        order by r.n) r
"""
# One task: a plain call, no arrays to build and unnest (the common case of enqueue()).
ENQUEUE_ONE = """
select pgtask.enqueue_task(%s, %s::text::jsonb, %s, coalesce(%s::timestamptz, now() + %s::interval),
                           %s, %s, %s, %s, %s::text::jsonb, %s::text::jsonb)
"""
PING = "select 1"


def _document(requests: Sequence[EnqueueRequest]) -> str:
    """The JSON array ENQUEUE_MANY unpacks; fields left at their defaults are left out
    (enqueue_tasks reads a missing queue as 'default' and a missing priority as 0)."""
    rows = []
    for r in requests:
        row = {"task_type": r.task_type, "payload": r.payload}
        if r.queue != "default":
            row["queue"] = r.queue
        if r.priority:
            row["priority"] = r.priority
        if r.run_at is not None:
            row["run_at"] = r.run_at.isoformat()
        if r.delay is not None:
            row["delay"] = f"{r.delay.total_seconds()} seconds"
        for name in ("idempotency_key", "max_attempts", "target_url", "on_success",
                     "on_failure"):
            value = getattr(r, name)
            if value is not None:
                row[name] = value
        rows.append(row)
    return json.dumps(rows, separators=(",", ":"))


def _statement(requests: Sequence[EnqueueRequest]) -> tuple[str, tuple]:
    """ENQUEUE_ONE for a single task, ENQUEUE_MANY (parallel arrays) for more."""
    if len(requests) > 1:
        return ENQUEUE_MANY, (_document(requests),)
    r = requests[0]
    return ENQUEUE_ONE, (
        r.task_type, json.dumps(r.payload, separators=(",", ":")), r.queue, r.run_at, r.delay,
        r.priority, r.idempotency_key, r.max_attempts, r.target_url,
        None if r.on_success is None else json.dumps(r.on_success, separators=(",", ":")),
        None if r.on_failure is None else json.dumps(r.on_failure, separators=(",", ":")))


def _first_column(rows: list) -> list:
    """Column one of each row, whatever row factory the caller's connection uses."""
    if rows and isinstance(rows[0], Mapping):
        return [next(iter(row.values())) for row in rows]
    return [row[0] for row in rows]


def enqueue_on(conn: psycopg.Connection, requests: Sequence[EnqueueRequest]) -> list[int]:
    """Enqueue on the caller's own connection, inside whatever transaction it has open."""
    if not requests:
        return []
    with conn.cursor() as cur:
        cur.execute(*_statement(requests))
        return _first_column(cur.fetchall())


async def aenqueue_on(conn: psycopg.AsyncConnection,
                      requests: Sequence[EnqueueRequest]) -> list[int]:
    """enqueue_on for an async connection."""
    if not requests:
        return []
    async with conn.cursor() as cur:
        await cur.execute(*_statement(requests))
        return _first_column(await cur.fetchall())


class PostgresListener:
    """One LISTEN connection. Reconnection and health policy live in pgtask.worker.listener."""

    def __init__(self, dsn: str, channels: Sequence[str]) -> None:
        self._dsn = dsn
        self._channels = list(channels)
        self._conn: psycopg.AsyncConnection | None = None

    async def connect(self, timeout: float) -> None:
        self._conn = await psycopg.AsyncConnection.connect(
            self._dsn, autocommit=True, connect_timeout=max(1, int(timeout)),
            application_name="pgtask-listener", **KEEPALIVES
        )
        for channel in self._channels:
            await self._conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))

    async def receive(self, timeout: float) -> list[tuple[str, str]]:
        """Notifications that arrive within `timeout` seconds (returns early on the first)."""
        assert self._conn is not None
        got = []
        async for note in self._conn.notifies(timeout=timeout, stop_after=1):
            got.append((note.channel, note.payload))
        return got

    async def ping(self) -> None:
        assert self._conn is not None
        await self._conn.execute(PING)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except Exception:  # the connection may already be dead; nothing to save
                pass


class PostgresStore:
    """The runtime's view of a Postgres database (see store.base.Store)."""

    backend = "postgres"
    supports_notify = True
    next_due_in: float | None = None

    def __init__(self, dsn: str, *, max_size: int = 4) -> None:
        self.dsn = dsn
        # A short checkout timeout: while the server is away, calls fail within seconds
        # (and the runner backs off and retries) instead of queueing behind the pool.
        self._pool = AsyncConnectionPool(
            dsn, min_size=1, max_size=max_size, open=False, timeout=5.0,
            kwargs={"autocommit": True},
        )
        self._may_vacuum: bool | None = None  # asked once, at the first vacuum

    async def open(self, timeout: float = 15.0) -> None:
        try:
            await self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            await self._pool.close()
            raise ConfigError(f"cannot connect to {redact_dsn(self.dsn)} within {timeout:g}s") from exc

    async def close(self) -> None:
        await self._pool.close()

    def listener(self, channels: Sequence[str]) -> PostgresListener:
        return PostgresListener(self.dsn, channels)

    async def claim(self, queues, worker_id, batch, task_types,
                    with_targets: bool = False) -> list[ClaimedTask]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(CLAIM, (queues, worker_id, batch, task_types, with_targets))
            return [ClaimedTask(*row) for row in await cur.fetchall()]

    async def finish(self, outcomes: Sequence[Outcome], logs: Sequence[LogLine] = ()) -> set[int]:
        """Record outcomes and logs in one round trip (a pipeline); return the ids still held.

        Also sets `next_due_in`: seconds until the earliest retried or snoozed task is due
        (None when there is none), so the runner can wake for it instead of waiting for
        its next poll: a requeue sends no NOTIFY.
        """
        self.next_due_in = None
        if not outcomes and not logs:
            return set()
        requeued = [o.id for o in outcomes if o.kind in ("failed", "snoozed")]
        async with self._pool.connection() as conn:
            async with conn.pipeline():
                if logs:
                    await conn.execute(APPEND_LOGS, (
                        [x.task_id for x in logs], [x.attempt for x in logs],
                        [x.at for x in logs], [x.level for x in logs], [x.message for x in logs]))
                if not outcomes:
                    return set()
                cur = await conn.execute(FINISH, (
                    [o.id for o in outcomes], [o.lease_token for o in outcomes],
                    [o.kind for o in outcomes],
                    [None if o.result is None else Jsonb(o.result) for o in outcomes],
                    [o.error for o in outcomes], [o.delay for o in outcomes]))
                due = await conn.execute(NEXT_DUE, (requeued,)) if requeued else None
            applied = {row[0] for row in await cur.fetchall()}
            if due is not None:
                seconds = (await due.fetchone())[0]
                self.next_due_in = None if seconds is None else float(seconds)
            return applied

    async def heartbeat(self, worker_id: str, held: Sequence[tuple[int, UUID]]) -> set[int]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                HEARTBEAT, (worker_id, [i for i, _ in held], [t for _, t in held]))
            return {row[0] for row in await cur.fetchall()}

    async def register_worker(self, info: WorkerInfo) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(REGISTER, (info.id, info.host, info.pid, info.queues,
                                          info.task_types, info.concurrency))

    async def set_worker_waiting(self, worker_id: str, waiting: bool) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(SET_WAITING, (worker_id, waiting))

    async def deregister_worker(self, worker_id: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(DEREGISTER, (worker_id,))

    async def maintain(self, retention: timedelta | None) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(TRY_MAINTENANCE_LOCK, (MAINTENANCE_LOCK_KEY,))
            if not (await cur.fetchone())[0]:
                return  # another worker is doing it
            await conn.execute(RESCUE)
            if retention is not None:
                await conn.execute(PRUNE, (retention,))

    async def vacuum_hot_table(self, truncate: bool = True) -> bool:
        """VACUUM pgtask.tasks unless another worker is at it (then False).

        A role that may not vacuum it (not its owner) skips this; autovacuum, with the
        table's own thresholds, still does the job.
        """
        async with self._pool.connection() as conn:
            if self._may_vacuum is None:
                self._may_vacuum = bool((await (await conn.execute(MAY_VACUUM)).fetchone())[0])
                if not self._may_vacuum:
                    log.info("this role may not vacuum pgtask.tasks: autovacuum keeps it small")
            if not self._may_vacuum:
                return False
            locked = (await (await conn.execute(TRY_VACUUM_LOCK, (VACUUM_LOCK_KEY,))).fetchone())[0]
            if not locked:
                return False
            try:
                await conn.execute(VACUUM_HOT_TABLE[truncate])
            finally:
                await conn.execute(VACUUM_UNLOCK, (VACUUM_LOCK_KEY,))
            return True

    async def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[int]:
        async with self._pool.connection() as conn:
            return await aenqueue_on(conn, requests)
