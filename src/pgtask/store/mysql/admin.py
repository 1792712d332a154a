"""store/postgres/admin.py for MySQL/MariaDB: retry, cancel, queue policy, prune, rescue.

Each operation is MySQLStore's own (tx.py), run here on the command's connection, so
operators and workers move tasks by the same rules. Bulk actions go in slices of CHUNK ids,
each one transaction, as on Postgres.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeAlias, TypeVar

import pymysql
from pymysql.connections import Connection
from pymysql.cursors import Cursor

from pgtask.queue_settings import NAMES, of_kind
from pgtask.store.base import Row
from pgtask.store.mysql import sql as q
from pgtask.store.mysql import tx as mysql_tx
from pgtask.store.mysql.enqueue import ensure_queues
from pgtask.store.mysql.errors import ER_LOCK_DEADLOCK
from pgtask.store.mysql.inspect import fetch, where
from pgtask.store.mysql.queue_settings import apply_settings, check_request
from pgtask.store.postgres.admin import CHUNK
from pgtask.store.pruning import DEFAULT_BATCH_SIZE, prune_in_batches

T = TypeVar("T")
Conn: TypeAlias = "Connection[Any]"  # a schema.connect one: autocommit, dict rows
DURATIONS = of_kind("duration")  # seconds in MySQL, timedelta as Postgres gives them

SELECT_IDS = {True: "SELECT id FROM pgtask_task_history WHERE {where} ORDER BY id",
              False: "SELECT id FROM pgtask_tasks WHERE {where} ORDER BY id"}
QUEUES = """
SELECT name, paused, concurrency_limit, rate_limit, rate_burst, max_attempts, min_backoff,
       max_backoff, max_doublings, backoff_jitter, lease, target_url, dispatch_deadline,
       max_run_time, updated_at
  FROM pgtask_queues {where} ORDER BY name
"""
LOCK_QUEUE = f"SELECT {', '.join(NAMES)} FROM pgtask_queues WHERE name = %s FOR UPDATE"
CONFIGURE = f"""
UPDATE pgtask_queues SET {', '.join(f'{column} = %s' for column in NAMES)},
       updated_at = UTC_TIMESTAMP(6)
 WHERE name = %s
"""
SET_PAUSED = "UPDATE pgtask_queues SET paused = %s, updated_at = UTC_TIMESTAMP(6) WHERE name = %s"
RUNNING = "SELECT COUNT(*) AS n FROM pgtask_tasks WHERE queue = %s AND state = 'running'"
PRUNABLE = """
SELECT COUNT(*) AS n FROM pgtask_task_history
 WHERE finished_at < UTC_TIMESTAMP(6) - INTERVAL %s MICROSECOND
"""


def transaction(conn: Conn, operation: Callable[..., T], *args: Any) -> T:
    """`operation(conn, *args)` in one transaction, run again (twice at most) on a deadlock."""
    for attempt in range(3):
        conn.begin()
        try:
            result = operation(conn, *args)
            conn.commit()
            return result
        except pymysql.err.OperationalError as exc:
            conn.rollback()
            if exc.args[0] != ER_LOCK_DEADLOCK or attempt == 2:
                raise
        except BaseException:
            conn.rollback()
            raise
    raise AssertionError("unreachable")


def select_ids(conn: Conn, *, finished: bool, state: str | None = None, queue: str | None = None,
               task_type: str | None = None) -> list[int]:
    """Ids of the tasks matching the filters, from history (finished) or the hot table."""
    condition, values = where(state=state, queue=queue, task_type=task_type)
    return [row["id"] for row in fetch(conn, SELECT_IDS[finished].format(where=condition), values)]


def _each(conn: Conn, ids: Sequence[int], change: Callable[..., bool], *args: Any) -> list[int]:
    """The ids among `ids` that `change(conn, id, *args)` changed, a slice per transaction."""
    def chunk(conn: Conn, part: Sequence[int]) -> list[int]:
        return [task_id for task_id in part if change(conn, task_id, *args)]

    return [task_id for start in range(0, len(ids), CHUNK)
            for task_id in transaction(conn, chunk, list(ids[start:start + CHUNK]))]


def retry_tasks(conn: Conn, ids: Sequence[int]) -> list[int]:
    """Re-queue the dead or cancelled tasks among `ids`; returns those that were."""
    return _each(conn, ids, mysql_tx.retry)


def cancel_tasks(conn: Conn, ids: Sequence[int], reason: str) -> list[int]:
    """Cancel the unfinished tasks among `ids`; returns those that were."""
    return _each(conn, ids, mysql_tx.cancel, reason)


def _policy(row: Row) -> Row:
    """Durations as timedelta, as Postgres's intervals come back."""
    return {k: timedelta(seconds=v) if k in DURATIONS and v is not None else v
            for k, v in row.items()}


def queues(conn: Conn) -> list[Row]:
    return [_policy(row) for row in fetch(conn, QUEUES.format(where=""))]


def _configure(conn: Conn, name: str, settings: dict[str, Any]) -> None:
    with conn.cursor(Cursor) as cur:
        ensure_queues(cur, [name])
        cur.execute(LOCK_QUEUE, (name,))
        row = cur.fetchone()
        assert row is not None, "ensure_queues has just made sure the queue exists"
        current = dict(zip(NAMES, row, strict=True))
        policy = apply_settings(current, settings)
        cur.execute(CONFIGURE, [*(policy[k] for k in NAMES), name])


def configure_queue(conn: Conn, name: str, settings: dict[str, Any]) -> Row:
    """Change the named settings (None clears); ConfigError says which value was refused."""
    seconds = {k: v.total_seconds() if isinstance(v, timedelta) else v
               for k, v in settings.items()}
    check_request(name, seconds)
    transaction(conn, _configure, name, seconds)
    return _policy(fetch(conn, QUEUES.format(where="WHERE name = %s"), (name,))[0])


def _pause(conn: Conn, name: str) -> None:
    with conn.cursor(Cursor) as cur:
        ensure_queues(cur, [name])
        cur.execute(SET_PAUSED, (True, name))


def set_paused(conn: Conn, name: str, paused: bool) -> bool:
    """Pause or resume a queue; False when resuming a queue that does not exist.

    Pausing a queue with no row yet creates it, paused (pgtask.set_queue_paused).
    """
    if paused:
        check_request(name, {})
        transaction(conn, _pause, name)
        return True
    with conn.cursor() as cur:
        return bool(cur.execute(SET_PAUSED, (paused, name)) > 0)


def running_in_queue(conn: Conn, name: str) -> int:
    return int(fetch(conn, RUNNING, (name,))[0]["n"])


def count_prunable(conn: Conn, older_than: timedelta) -> int:
    return int(fetch(conn, PRUNABLE, (older_than // timedelta(microseconds=1),))[0]["n"])


def prune(conn: Conn, older_than: timedelta, batch_size: int = DEFAULT_BATCH_SIZE,
          budget: float | None = None) -> int:
    """In batches (store/pruning.py), each its own transaction."""
    cutoff = mysql_tx.prune_cutoff(conn, older_than)

    def batch(size: int) -> int:
        return transaction(conn, mysql_tx.prune_batch, cutoff, size)
    return prune_in_batches(batch, batch_size, budget).total


def _rescue(conn: Conn) -> int:
    with conn.cursor(Cursor) as cur:
        cur.execute(q.NOW)
        row = cur.fetchone()
        assert row is not None, "SELECT without FROM returns one row"
        return int(mysql_tx.rescue(cur, row[0]))


def rescue(conn: Conn) -> int:
    """Rescue expired leases now (as the workers' maintenance does); returns how many."""
    return transaction(conn, _rescue)
