"""store/postgres/inspect.py for MySQL/MariaDB: `pgtask ls`, `show`, `stats` (`top`: snapshot.py).

The functions take a PyMySQL dict-row autocommit connection (schema.connect) and
return rows shaped as the Postgres ones are, so the commands print both alike: aware UTC
datetimes, JSON columns parsed, booleans as bool, counts as int (see `plain`).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from pymysql.connections import Connection

from pgtask.store.base import Row
from pgtask.store.mysql.rules import utc

JSON_COLUMNS = frozenset({"payload", "errors", "result", "queues", "task_types"})
BOOL_COLUMNS = frozenset({"paused"})
FILTERS = {"state": "state = %s", "queue": "queue = %s", "task_type": "task_type = %s"}


def plain(row: Row) -> Row:
    """One MySQL row as Postgres would give it (pure)."""
    out = {}
    for key, value in row.items():
        if key in JSON_COLUMNS and isinstance(value, str | bytes):
            value = json.loads(value)
        elif key in BOOL_COLUMNS and value is not None:
            value = bool(value)
        elif isinstance(value, Decimal):  # SUM() of booleans: whole numbers
            value = int(value) if value == value.to_integral_value() else float(value)
        elif isinstance(value, datetime):
            value = utc(value)
        out[key] = value
    return out


def where(**filters: Any) -> tuple[str, list[Any]]:
    """`col = %s AND ...` for the filters that are not None ('TRUE' when there are none).

    Only the constant fragments of FILTERS reach the SQL text; values go as parameters.
    """
    given = [(FILTERS[column], value) for column, value in filters.items() if value is not None]
    if not given:
        return "TRUE", []
    return " AND ".join(text for text, _ in given), [value for _, value in given]


def fetch(conn: Connection[Any], query: str, params: Any = None) -> list[Row]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return [plain(row) for row in cur.fetchall()]


# Each table is read by its primary key from `after` and stops after `limit` matches, so a
# page costs the same however deep into history it is (the view would read both whole).
LIST_COLUMNS = ("id, queue, task_type, CAST(state AS CHAR) AS state, priority, attempt, run_at, "
                "created_at, {finished} AS finished_at, worker_id, {message} AS message")
LIST_TASKS = f"""
(SELECT {LIST_COLUMNS.format(finished="CAST(NULL AS DATETIME(6))", message="CAST(NULL AS CHAR)")}
   FROM pgtask_tasks WHERE id > %s AND {{where}} ORDER BY id LIMIT %s)
UNION ALL
(SELECT {LIST_COLUMNS.format(finished="finished_at", message="message")}
   FROM pgtask_task_history WHERE id > %s AND {{where}} ORDER BY id LIMIT %s)
ORDER BY id LIMIT %s
"""
LIST_NEWEST = (LIST_TASKS.replace("id > %s", "id < %s").replace("ORDER BY id", "ORDER BY id DESC"))


def list_tasks(conn: Connection[Any], *, state: str | None = None, queue: str | None = None,
               task_type: str | None = None, after: int = 0, limit: int = 50,
               before: int | None = None) -> list[Row]:
    """Up to `limit` tasks with id > `after`, by id: keyset pagination over hot and history.
    With `before`, those below it, newest first."""
    condition, values = where(state=state, queue=queue, task_type=task_type)
    params = [after if before is None else before, *values, limit] * 2 + [limit]
    query = LIST_TASKS if before is None else LIST_NEWEST
    return fetch(conn, query.format(where=condition), params)


SHOW_TASK = "SELECT * FROM pgtask_all_tasks WHERE id = %s"
SHOW_LOGS = """
SELECT attempt, at, level, message FROM pgtask_task_logs WHERE task_id = %s ORDER BY at LIMIT %s
"""


def task_detail(conn: Connection[Any], task_id: int, log_limit: int = 1000) -> Row | None:
    """The task with its log lines, or None. MySQL keeps no HTTP attempt journal (None)."""
    found = fetch(conn, SHOW_TASK, (task_id,))
    if not found:
        return None
    task = found[0]
    task["state"] = str(task["state"])
    return {"task": task, "logs": fetch(conn, SHOW_LOGS, (task_id, log_limit)),
            "http_attempts": None}


# States never overlap between the tables, so the two grouped counts need no merging.
STATS = """
SELECT queue, CAST(state AS CHAR) AS state, COUNT(*) AS n FROM pgtask_tasks GROUP BY 1, 2
UNION ALL
SELECT queue, CAST(state AS CHAR) AS state, COUNT(*) AS n FROM pgtask_task_history GROUP BY 1, 2
ORDER BY 1, 2
"""


def task_counts(conn: Connection[Any]) -> list[Row]:
    """Tasks counted by queue and state (a full count: it reads all of history)."""
    return fetch(conn, STATS)
