"""The reads of store.base.Browser that store.inspect and store.admin do not have:
enqueue-and-return, pages newest first, recent failures, chain links, the schema revision.
The /metrics queries are in metrics.py; pool.py serves both to the web app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow

from pgtask.models import EnqueueRequest
from pgtask.store.postgres.enqueue import enqueue_on
from pgtask.store.postgres.inspect import LIST_COLUMNS, SHOW_TASK, equal_filters
from pgtask.store.postgres.schema import revision

Connection = psycopg.Connection[DictRow]  # every connection of the web pool makes dict rows

# The task, and whether its row was written by this very transaction. enqueue_task returns
# an existing task's id when the idempotency key is taken (by a committed transaction, or by
# one it waited for), so "our transaction inserted the row" is exactly "this call created
# it", whatever runs concurrently. (A created_at or key lookup before the call would race.)
SHOW_CREATED = """
select a.*,
       exists (select 1 from pgtask.tasks t
                where t.id = a.id and t.xmin = pg_catalog.xid(pg_current_xact_id_if_assigned()))
       as created_here
  from pgtask.all_tasks a where a.id = %s
"""

RECENT_FAILURES = """
(select h.id, h.queue, h.task_type, h.state::text as state, h.attempt, h.finished_at as at,
        h.message as error
   from pgtask.task_history h
  where h.state = 'dead'
  order by h.finished_at desc limit %(limit)s)
union all
(select t.id, t.queue, t.task_type, t.state::text, t.attempt, (t.errors->-1->>'at')::timestamptz,
        t.errors->-1->>'error'
   from pgtask.tasks t
  where t.errors <> '[]'
  order by (t.errors->-1->>'at')::timestamptz desc limit %(limit)s)
order by at desc limit %(limit)s
"""

CHILDREN = """
select id, task_type, state::text as state from pgtask.all_tasks
 where parent_id = %s order by id limit 100
"""
GROUP = """
select id, size, remaining, succeeded, dead, cancelled, created_at, completed_at, follow_up_ids
  from pgtask.groups where id = %s
"""


def enqueue_returning(conn: Connection, request: EnqueueRequest) -> tuple[DictRow, bool]:
    """Enqueue one task; return it as all_tasks shows it, and whether this call created it.

    Without an idempotency key every call creates, so the enqueue commits on its own and the
    task is read back after (two round trips); with a key, both run in one transaction.
    """
    if request.idempotency_key is None:
        (task_id,) = enqueue_on(conn, [request])
        return _one(conn.execute(SHOW_TASK, (task_id,)).fetchone()), True
    with conn.transaction():
        (task_id,) = enqueue_on(conn, [request])
        task = _one(conn.execute(SHOW_CREATED, (task_id,)).fetchone())
    return task, bool(task.pop("created_here"))


def _one(row: DictRow | None) -> DictRow:
    """The row of a query that always has one (an aggregate, or a task this connection has
    just written: all_tasks keeps it whatever a worker does to it meanwhile)."""
    assert row is not None, "a query that always returns a row returned none"
    return row


def task_row(conn: Connection, task_id: int) -> DictRow | None:
    return conn.execute(SHOW_TASK, (task_id,)).fetchone()


def list_page(conn: Connection, *, state: str | None = None, queue: str | None = None,
              task_type: str | None = None, after: int | None = None,
              before: int | None = None, limit: int = 100) -> list[DictRow]:
    """Keyset pagination both ways: ids above `after` in ascending order, or ids below
    `before` (or the newest, when neither is given) in descending order. Both directions
    are merged index scans of the two tables' primary keys (see store.inspect.list_tasks)."""
    where, values = equal_filters(state=state, queue=queue, task_type=task_type)
    if after is not None:
        query = sql.SQL("{} where id > %s and {} order by id limit %s")
        bound = after
    else:
        query = sql.SQL("{} where id < %s and {} order by id desc limit %s")
        bound = before if before is not None else 2**63 - 1
    return conn.execute(query.format(LIST_COLUMNS, where), [bound, *values, limit]).fetchall()


def recent_failures(conn: Connection, limit: int = 20) -> list[DictRow]:
    """The latest dead tasks and failed attempts of tasks still retrying, newest first."""
    return conn.execute(RECENT_FAILURES, {"limit": limit}).fetchall()


def chain(conn: Connection, task: Mapping[str, Any]) -> DictRow:
    """The follow-ups this task enqueued and the fan-in group it belongs to."""
    group = None
    if task.get("group_id") is not None:
        group = conn.execute(GROUP, (task["group_id"],)).fetchone()
    return {"children": conn.execute(CHILDREN, (task["id"],)).fetchall(), "group": group}


def schema_revision(conn: Connection) -> str | None:
    """The alembic revision the database is at (None: not migrated)."""
    return revision(conn)
