"""Queue administration: retry, cancel, queue policy, prune, rescue. Each goes through the
SQL functions of pgtask.sql, so the database's own rules apply to operators too."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pgtask.errors import ConfigError
from pgtask.store.base import Row
from pgtask.store.postgres.inspect import equal_filters
from pgtask.store.postgres.schema import Connection
from pgtask.store.pruning import DEFAULT_BATCH_SIZE, prune_in_batches

# Bulk actions go in slices, each its own statement and transaction: no lock on thousands
# of rows is held for long, and a failure part-way leaves the earlier slices done.
CHUNK = 500

RETRY = "select r.id from unnest(%s::bigint[]) r(id) where pgtask.retry_task(r.id)"
CANCEL = "select c.id from unnest(%s::bigint[]) c(id) where pgtask.cancel_task(c.id, %s)"
QUEUES = """
select name, paused, concurrency_limit, rate_limit, rate_burst, max_attempts, min_backoff,
       max_backoff, max_doublings, backoff_jitter, lease, target_url, dispatch_deadline,
       max_run_time, updated_at
  from pgtask.queues order by name
"""
CONFIGURE = "select * from pgtask.configure_queue(%s, %s)"
SET_PAUSED = "select pgtask.set_queue_paused(%s, %s) as found"
RUNNING = "select count(*) as n from pgtask.tasks where queue = %s and state = 'running'"
PRUNABLE = "select count(*) as n from pgtask.task_history where finished_at < now() - %s::interval"
PRUNE_BATCH = "select pgtask.prune_batch(%s::interval, %s) as n"
RESCUE = "select pgtask.rescue_tasks() as n"


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start:start + CHUNK])


def _one(conn: Connection, query: str, params: Sequence[Any] = ()) -> Row:
    """The row of a statement that returns exactly one (a function call, a count)."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise RuntimeError(f"{query!r} returned no row")
    return row


def select_ids(conn: Connection, *, finished: bool, state: str | None = None,
               queue: str | None = None, task_type: str | None = None) -> list[int]:
    """Ids of the tasks matching the filters, from history (finished) or the hot table."""
    table = sql.Identifier("pgtask", "task_history" if finished else "tasks")
    where, values = equal_filters(state=state, queue=queue, task_type=task_type)
    query = sql.SQL("select id from {} where {} order by id").format(table, where)
    return [row["id"] for row in conn.execute(query, values)]


def retry_tasks(conn: Connection, ids: Sequence[int]) -> list[int]:
    """Re-queue the dead or cancelled tasks among `ids`; returns those that were."""
    return [row["id"] for chunk in _chunks(ids) for row in conn.execute(RETRY, (chunk,))]


def cancel_tasks(conn: Connection, ids: Sequence[int], reason: str) -> list[int]:
    """Cancel the unfinished tasks among `ids`; returns those that were."""
    return [row["id"] for chunk in _chunks(ids) for row in conn.execute(CANCEL, (chunk, reason))]


def queues(conn: Connection) -> list[Row]:
    return conn.execute(QUEUES).fetchall()


def configure_queue(conn: Connection, name: str, settings: dict[str, Any]) -> Row:
    """Change the named settings (None clears); ConfigError says which value was refused."""
    values = {k: f"{v.total_seconds()} seconds" if isinstance(v, timedelta) else v
              for k, v in settings.items()}
    try:
        return _one(conn, CONFIGURE, (name, Jsonb(values)))
    except (psycopg.errors.CheckViolation, psycopg.errors.InvalidParameterValue,
            psycopg.errors.DataException) as exc:
        message = exc.diag.message_primary or str(exc)
        raise ConfigError(message.removeprefix("pgtask: ")) from None


def set_paused(conn: Connection, name: str, paused: bool) -> bool:
    """Pause or resume a queue; False when there is no such queue."""
    return bool(_one(conn, SET_PAUSED, (name, paused))["found"])


def running_in_queue(conn: Connection, name: str) -> int:
    return int(_one(conn, RUNNING, (name,))["n"])


def count_prunable(conn: Connection, older_than: timedelta) -> int:
    return int(_one(conn, PRUNABLE, (older_than,))["n"])


def prune(conn: Connection, older_than: timedelta, batch_size: int = DEFAULT_BATCH_SIZE,
          budget: float | None = None) -> int:
    """pgtask.prune_batch until done (store/pruning.py); the connection is in autocommit
    mode, so each batch commits on its own."""
    def batch(size: int) -> int:
        return int(_one(conn, PRUNE_BATCH, (older_than, size))["n"])
    return prune_in_batches(batch, batch_size, budget).total


def rescue(conn: Connection) -> int:
    """Run pgtask.rescue_tasks now; returns how many tasks it moved."""
    return int(_one(conn, RESCUE)["n"])
