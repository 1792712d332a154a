"""Read-only queries for `pgtask ls`, `show` and `stats` (`top`: top.py)."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from pgtask.store.base import Row
from pgtask.store.postgres.schema import Connection

LIST_COLUMNS = sql.SQL(
    "select id, queue, task_type, state::text as state, priority, attempt, run_at, created_at, "
    "finished_at, worker_id, message from pgtask.all_tasks"
)


def equal_filters(**filters: Any) -> tuple[sql.Composable, list[Any]]:
    """`col = %s and ...` for the filters that are not None ('true' when there are none)."""
    given = {column: value for column, value in filters.items() if value is not None}
    if not given:
        return sql.SQL("true"), []
    where = sql.SQL(" and ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder()) for column in given)
    return where, list(given.values())


def list_tasks(conn: Connection, *, state: str | None = None, queue: str | None = None,
               task_type: str | None = None, after: int = 0, limit: int = 50,
               before: int | None = None) -> list[Row]:
    """Up to `limit` tasks with id > `after`, by id: keyset pagination over hot and history.
    With `before`, those below it, newest first.

    The view is a UNION ALL of two tables whose primary keys are ordered by id, so the
    planner merges two index scans (backwards for `before`) and stops after `limit`
    matches (bench/top_refresh.py shows the plan).
    """
    where, values = equal_filters(state=state, queue=queue, task_type=task_type)
    if before is not None:
        query = sql.SQL("{} where id < %s and {} order by id desc limit %s").format(
            LIST_COLUMNS, where)
        return conn.execute(query, [before, *values, limit]).fetchall()
    query = sql.SQL("{} where id > %s and {} order by id limit %s").format(LIST_COLUMNS, where)
    return conn.execute(query, [after, *values, limit]).fetchall()


SHOW_TASK = "select * from pgtask.all_tasks where id = %s"
SHOW_LOGS = """
select attempt, at, level, message from pgtask.task_logs where task_id = %s order by at limit %s
"""
HTTP_ATTEMPTS_TABLE = "select to_regclass('pgtask.http_attempts') is not null as present"
SHOW_HTTP_ATTEMPTS = """
select attempt, at, status, latency_ms, reason, response
  from pgtask.http_attempts where task_id = %s order by attempt, at
"""


SHOW_FOLLOW_UPS = """
select id, task_type, state::text as state from pgtask.all_tasks
 where parent_id = %s order by id limit 100
"""


def task_detail(conn: Connection, task_id: int, log_limit: int = 1000) -> Row | None:
    """The task with its log lines, HTTP attempts (when that table exists) and the
    follow-up tasks its chain enqueued, or None."""
    task = conn.execute(SHOW_TASK, (task_id,)).fetchone()
    if task is None:
        return None
    logs = conn.execute(SHOW_LOGS, (task_id, log_limit)).fetchall()
    attempts = None
    journal = conn.execute(HTTP_ATTEMPTS_TABLE).fetchone()
    if journal and journal["present"]:
        attempts = conn.execute(SHOW_HTTP_ATTEMPTS, (task_id,)).fetchall()
    follow_ups = conn.execute(SHOW_FOLLOW_UPS, (task_id,)).fetchall()
    return {"task": task, "logs": logs, "http_attempts": attempts, "follow_ups": follow_ups}


STATS = """
select queue, state::text as state, count(*) as n from pgtask.all_tasks group by 1, 2 order by 1, 2
"""


def task_counts(conn: Connection) -> list[Row]:
    """Tasks counted by queue and state (a full count: it reads all of history)."""
    return conn.execute(STATS).fetchall()
