"""Operators' changes to single tasks and the errors list: delete or update a queued task
(pgtask.delete_task, pgtask.update_task), the state of given tasks (to say why an action
left one unchanged), and the tasks that failed at least once, newest first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from pgtask.store.base import Row
from pgtask.store.postgres.schema import Connection

DELETE = "select pgtask.delete_task(%s) as deleted"
UPDATE = "select * from pgtask.update_task(%s, %s)"
STATES = "select id, state::text as state from pgtask.all_tasks where id = any(%s::bigint[])"

# Each table read by id downwards and stopped after `limit` matches (the history through
# its partial index task_history_errored; the hot table is small), then merged.
ERROR_COLUMNS = """
{alias}.id, {alias}.queue, {alias}.task_type, {alias}.state::text as state, {alias}.attempt,
{alias}.max_attempts, pg_catalog.jsonb_array_length({alias}.errors) as failures,
({alias}.errors->-1->>'at')::timestamptz as failed_at, {alias}.errors->-1->>'error' as error,
{finished} as finished_at
"""
ERRORED = f"""
(select {ERROR_COLUMNS.format(alias="t", finished="null::timestamptz")}
   from pgtask.tasks t
  where t.errors <> '[]' and t.id < %(before)s
    and (%(queue)s::text is null or t.queue = %(queue)s)
  order by t.id desc limit %(limit)s)
union all
(select {ERROR_COLUMNS.format(alias="h", finished="h.finished_at")}
   from pgtask.task_history h
  where h.errors <> '[]' and h.id < %(before)s
    and (%(queue)s::text is null or h.queue = %(queue)s)
  order by h.id desc limit %(limit)s)
order by id desc limit %(limit)s
"""
NO_CURSOR = 2**63 - 1  # above every task id: the first page


def delete_task(conn: Connection, task_id: int) -> bool:
    """Delete a queued task; False when there is no such task (Refused: it is not queued)."""
    row = conn.execute(DELETE, (task_id,)).fetchone()
    return bool(row and row["deleted"])


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def update_task(conn: Connection, task_id: int, changes: Mapping[str, Any]) -> Row | None:
    """Change a queued task (Refused: a bad value, or it is not queued); None: no such task."""
    values = {key: _json_value(value) for key, value in changes.items()}
    return conn.execute(UPDATE, (task_id, Jsonb(values))).fetchone()


def task_states(conn: Connection, ids: Sequence[int]) -> dict[int, str]:
    """The state of each of `ids` that exists (missing ids: no such task, or pruned)."""
    return {row["id"]: row["state"] for row in conn.execute(STATES, (list(ids),))}


def errored_tasks(conn: Connection, *, queue: str | None = None, before: int | None = None,
                  limit: int = 100) -> list[Row]:
    """Tasks that failed at least once, in any state, newest (highest id) first: keyset
    pages below `before`. Each with its failure count and last error."""
    params = {"before": NO_CURSOR if before is None else before, "queue": queue,
              "limit": limit}
    return conn.execute(ERRORED, params).fetchall()
