"""The MySQL store's operations, each a few statements inside one transaction.

Every function here (and in claim.py, enqueue.py) takes a PyMySQL connection whose
transaction is open (autocommit off) and leaves committing to its caller: MySQLStore
commits, or rolls back on error. Rows are read as tuples whatever cursor class the
connection defaults to (a caller's may use DictCursor). The clock is the database's
(UTC_TIMESTAMP, read once per transaction); the decisions between statements are the pure
functions of rules.py.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymysql.connections import Connection
from pymysql.cursors import Cursor

from pgtask.models import LogLine, Outcome, WorkerInfo
from pgtask.store.mysql import sql as q
from pgtask.store.mysql.enqueue import ensure_queues
from pgtask.store.mysql.queue_settings import pg_interval
from pgtask.store.mysql.rules import (
    HeldRow,
    RetryPolicy,
    Transition,
    check_outcome,
    resolve_outcome,
    resolve_rescue,
    sql_time,
)
from pgtask.store.mysql.sql import one
from pgtask.store.pruning import DEFAULT_BATCH_SIZE, WORKER_BUDGET, Pruned, prune_in_batches

# -- moving tasks on: finish, rescue, cancel ---------------------------------------------

def _move(cur: Cursor, transitions: Sequence[Transition], now: datetime) -> None:
    """Archive the finished (one INSERT + one DELETE) and requeue the rest (one UPDATE)."""
    doc = json.dumps([t.doc() for t in transitions])
    if any(t.state != "queued" for t in transitions):
        cur.execute(q.ARCHIVE, (now, doc))
        cur.execute(q.DELETE_ARCHIVED, (doc,))
    if any(t.state == "queued" for t in transitions):
        cur.execute(q.REQUEUE, (doc,))


def _retry_policies(cur: Cursor, queues: Iterable[str]) -> dict[str, RetryPolicy]:
    names = sorted(set(queues))
    cur.execute(q.RETRY_POLICIES.format(names=q.in_list(len(names))), names)
    return {row[0]: RetryPolicy(*row[1:]) for row in cur.fetchall()}


def finish(conn: Connection[Any], outcomes: Sequence[Outcome], logs: Sequence[LogLine] = (),
           noise: Callable[[], float] = random.random) -> set[int]:
    """Record outcomes fenced by their lease tokens; return the ids that were still held."""
    for outcome in outcomes:
        check_outcome(outcome)
    with conn.cursor(Cursor) as cur:
        if logs:
            cur.execute(q.APPEND_LOGS, (json.dumps([
                {"task_id": x.task_id, "attempt": x.attempt, "at": sql_time(x.at),
                 "level": x.level, "message": x.message} for x in logs]),))
        if not outcomes:
            return set()
        cur.execute(q.LOCK_HELD, (json.dumps(
            [{"id": o.id, "token": str(o.lease_token)} for o in outcomes]),))
        rows = cur.fetchall()
        if not rows:
            return set()
        now = rows[0][5]
        held = {r[0]: HeldRow(*r[:5]) for r in rows}
        failing = {held[o.id].queue for o in outcomes if o.id in held and o.kind == "failed"}
        policies = _retry_policies(cur, failing) if failing else {}
        transitions: list[Transition] = []
        seen: set[int] = set()
        for o in outcomes:
            if o.id in held and o.id not in seen:
                seen.add(o.id)
                row = held[o.id]
                transitions.append(resolve_outcome(o, row, policies.get(row.queue), now, noise()))
        _move(cur, transitions, now)
        return set(held)


def rescue(cur: Cursor, now: datetime) -> int:
    """Requeue (or bury) tasks whose lease ran out; forget long-silent workers."""
    cur.execute(q.LOCK_EXPIRED, (now,))
    rows = [HeldRow(*r) for r in cur.fetchall()]
    if rows:
        policies = _retry_policies(cur, (r.queue for r in rows))
        _move(cur, [resolve_rescue(r, policies[r.queue].max_attempts, now) for r in rows], now)
    cur.execute(q.FORGET_SILENT_WORKERS, (now,))
    return len(rows)


def cancel(conn: Connection[Any], task_id: int, reason: str | None = None) -> bool:
    """Stop a queued or running task (its worker learns at its next heartbeat).

    False: the task had already finished (or never existed).
    """
    with conn.cursor(Cursor) as cur:
        cur.execute(q.LOCK_TASK, (task_id,))
        row = cur.fetchone()
        if row is None:
            return False
        _move(cur, [Transition(task_id, "cancelled", message=reason or "cancelled")], row[1])
        return True


def retry(conn: Connection[Any], task_id: int) -> bool:
    """Requeue a dead or cancelled task with fresh attempts; False if it is neither."""
    with conn.cursor(Cursor) as cur:
        cur.execute(q.LOCK_FINISHED, (task_id,))
        row = cur.fetchone()
        if row is None:
            return False
        ensure_queues(cur, [row[1]])
        cur.execute(q.REVIVE, (task_id,))
        cur.execute(q.FORGET_FINISHED, (task_id,))
        return True


def prune_cutoff(conn: Connection[Any], older_than: timedelta) -> datetime:
    """The database's now minus `older_than`: one cutoff for every batch of a prune."""
    with conn.cursor(Cursor) as cur:
        cur.execute(q.PRUNE_CUTOFF, (older_than // timedelta(microseconds=1),))
        cutoff: datetime = one(cur)[0]
        return cutoff


def prune_batch(conn: Connection[Any], cutoff: datetime, batch_size: int) -> int:
    """Forget up to batch_size of the oldest finished tasks before `cutoff`, with their keys
    and logs (pgtask.prune_batch's MySQL form); the caller commits."""
    with conn.cursor(Cursor) as cur:
        cur.execute(q.PRUNE_BATCH_IDS, (cutoff, batch_size))
        ids = tuple(row[0] for row in cur.fetchall())
        if not ids:
            return 0
        cur.execute(q.PRUNE_KEYS, (ids,))
        cur.execute(q.PRUNE_LOGS, (ids,))
        pruned: int = cur.execute(q.PRUNE_HISTORY, (ids,))
        return pruned


def prune(conn: Connection[Any], older_than: timedelta, batch_size: int = DEFAULT_BATCH_SIZE,
          budget: float | None = None) -> Pruned:
    """Forget finished tasks older than `older_than` in batches, committing each (so no
    transaction outlives a batch), until none is left or `budget` seconds have passed."""
    cutoff = prune_cutoff(conn, older_than)

    def batch(size: int) -> int:
        pruned = prune_batch(conn, cutoff, size)
        conn.commit()
        return pruned
    return prune_in_batches(batch, batch_size, budget)


def maintain(conn: Connection[Any], retention: timedelta | None,
             prune_budget: float | None = WORKER_BUDGET) -> bool:
    """Rescue expired leases and prune history (for about `prune_budget` seconds), unless
    another process is doing it; True when expired history is left (Store.maintain)."""
    with conn.cursor(Cursor) as cur:
        cur.execute(q.TRY_MAINTENANCE_LOCK)
        if not one(cur)[0]:
            return False
        try:
            cur.execute(q.NOW)
            rescue(cur, one(cur)[0])
            conn.commit()
            if retention is None:
                return False
            return prune(conn, retention, budget=prune_budget).more
        finally:
            cur.execute(q.RELEASE_MAINTENANCE_LOCK)


# -- heartbeat and workers ---------------------------------------------------------------

def database_time(conn: Connection[Any]) -> datetime:
    """The server's clock, as UTC."""
    with conn.cursor(Cursor) as cur:
        cur.execute(q.NOW)
        now: datetime = one(cur)[0]
    return now.replace(tzinfo=UTC)


def database_id(conn: Connection[Any]) -> str:
    """An id of this database, for webhook-ids (see Store.database_id)."""
    with conn.cursor(Cursor) as cur:
        cur.execute(q.DATABASE_ID)
        database_id: str = one(cur)[0]
    return database_id


def overdue_error(queue: str, max_run_time: float) -> str:
    """Why heartbeat failed a run (pgtask.heartbeat on Postgres says the same)."""
    return (f"taken away: ran longer than queue {queue}'s max_run_time "
            f"({pg_interval(max_run_time)}); the attempt counts as failed (change it with "
            f'"pgtask queue set {queue} --max-run-time")')


def heartbeat(conn: Connection[Any], worker_id: str,
              held: Sequence[tuple[int, uuid.UUID]]) -> set[int]:
    """Extend the leases held; return the ids no longer held (rescued, cancelled, stolen).

    A run longer than its queue's max_run_time is failed instead ("unstuck"), and so is
    no longer held either.
    """
    with conn.cursor(Cursor) as cur:
        cur.execute(q.TOUCH_WORKER, (len(held), worker_id))
        if not held:
            return set()
        doc = json.dumps([{"id": i, "token": str(t)} for i, t in held])
        # rowcount counts matched rows (CLIENT.FOUND_ROWS): all matched means none was lost
        # and none is overdue, the usual beat (two statements).
        if cur.execute(q.EXTEND_LEASES, (doc,)) == len(held):
            return set()
        cur.execute(q.OVERDUE, (doc,))
        overdue = [Outcome(task_id, uuid.UUID(token), "failed", error=overdue_error(queue, most))
                   for task_id, token, queue, most in cur.fetchall()]
        if overdue:
            finish(conn, overdue)
        cur.execute(q.STILL_HELD, (doc,))
        return {i for i, _ in held} - {row[0] for row in cur.fetchall()}


def register_worker(conn: Connection[Any], info: WorkerInfo) -> None:
    with conn.cursor(Cursor) as cur:
        cur.execute(q.REGISTER_WORKER, (
            info.id, info.host, info.pid,
            None if info.queues is None else json.dumps(list(info.queues)),
            None if info.task_types is None else json.dumps(list(info.task_types)),
            info.concurrency))


def deregister_worker(conn: Connection[Any], worker_id: str) -> None:
    with conn.cursor(Cursor) as cur:
        cur.execute(q.DEREGISTER_WORKER, (worker_id,))


