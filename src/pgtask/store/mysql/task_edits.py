"""store/postgres/task_edits.py for MySQL/MariaDB: delete or update a queued task, the
states of given tasks, and the errors list. The rules are pgtask.delete_task's and
pgtask.update_task's (sql/postgres/pgtask.sql), checked here before the writes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

from pymysql.connections import Connection

from pgtask.errors import Refused
from pgtask.models import EnqueueRequest
from pgtask.store.base import Row
from pgtask.store.mysql.admin import transaction
from pgtask.store.mysql.enqueue import ensure_queues
from pgtask.store.mysql.inspect import fetch
from pgtask.store.mysql.rules import payload_json, sql_time, utc

Conn: TypeAlias = "Connection[Any]"
EDITABLE = ("payload", "priority", "run_at", "queue", "max_attempts")

LOCK_TASK = """
SELECT id, queue, task_type, payload, CAST(state AS CHAR) AS state, priority, run_at, attempt,
       max_attempts, idempotency_key, target_url, UTC_TIMESTAMP(6) AS now
  FROM pgtask_tasks WHERE id = %s FOR UPDATE
"""
IS_FINISHED = "SELECT 1 AS found FROM pgtask_task_history WHERE id = %s"
DELETE_TASK = "DELETE FROM pgtask_tasks WHERE id = %s"
DELETE_KEY = "DELETE FROM pgtask_idempotency_keys WHERE queue = %s AND `key` = %s AND task_id = %s"
DELETE_LOGS = "DELETE FROM pgtask_task_logs WHERE task_id = %s"
KEY_TAKEN = "SELECT 1 AS taken FROM pgtask_idempotency_keys WHERE queue = %s AND `key` = %s"
MOVE_KEY = """
UPDATE pgtask_idempotency_keys SET queue = %s WHERE queue = %s AND `key` = %s AND task_id = %s
"""
UPDATE_TASK = """
UPDATE pgtask_tasks SET payload = %s, queue = %s, priority = %s, run_at = %s, max_attempts = %s
 WHERE id = %s
"""
SHOW_TASK = "SELECT * FROM pgtask_tasks WHERE id = %s"
STATES = "SELECT id, CAST(state AS CHAR) AS state FROM pgtask_all_tasks WHERE id IN ({ids})"
ERROR_COLUMNS = """id, queue, task_type, CAST(state AS CHAR) AS state, attempt, max_attempts,
  JSON_LENGTH(errors) AS failures,
  JSON_UNQUOTE(JSON_EXTRACT(errors, CONCAT('$[', JSON_LENGTH(errors) - 1, '].at'))) AS failed_at,
  JSON_UNQUOTE(JSON_EXTRACT(errors, CONCAT('$[', JSON_LENGTH(errors) - 1, '].error'))) AS error,
  {finished} AS finished_at"""
ERRORED = f"""
(SELECT {ERROR_COLUMNS.format(finished="CAST(NULL AS DATETIME(6))")} FROM pgtask_tasks
  WHERE JSON_LENGTH(errors) > 0 AND id < %s AND (%s IS NULL OR queue = %s)
  ORDER BY id DESC LIMIT %s)
UNION ALL
(SELECT {ERROR_COLUMNS.format(finished="finished_at")} FROM pgtask_task_history
  WHERE JSON_LENGTH(errors) > 0 AND id < %s AND (%s IS NULL OR queue = %s)
  ORDER BY id DESC LIMIT %s)
ORDER BY id DESC LIMIT %s
"""
NO_CURSOR = 2**63 - 1


def _locked(conn: Conn, task_id: int, verb: str) -> Row | None:
    """The task's row under lock, if queued; None if no such task; else Refused."""
    found = fetch(conn, LOCK_TASK, (task_id,))
    if not found:
        if fetch(conn, IS_FINISHED, (task_id,)):
            raise Refused(f"task {task_id} has finished; only a queued task can be {verb}")
        return None
    row = found[0]
    if row["state"] != "queued":
        raise Refused(f"task {task_id} is running; only a queued task can be {verb}")
    return row


def _delete(conn: Conn, task_id: int) -> bool:
    row = _locked(conn, task_id, "deleted")
    if row is None:
        return False
    with conn.cursor() as cur:
        cur.execute(DELETE_TASK, (task_id,))
        if row["idempotency_key"] is not None:
            cur.execute(DELETE_KEY, (row["queue"], row["idempotency_key"], task_id))
        cur.execute(DELETE_LOGS, (task_id,))
    return True


def delete_task(conn: Conn, task_id: int) -> bool:
    """Delete a queued task; False when there is no such task (Refused: it is not queued)."""
    return transaction(conn, _delete, task_id)


def merged(row: Row, changes: Mapping[str, Any]) -> EnqueueRequest:
    """The task as it would be after `changes`, checked as an enqueue is (pure; Refused)."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if not changes or unknown:
        raise Refused(f"{unknown[0]!r} cannot be changed (only payload, priority, run_at, queue "
                      "and max_attempts can)" if unknown else "say what to change")
    new = {**{k: row[k] for k in EDITABLE}, **changes}
    if new["run_at"] is None:
        new["run_at"] = row["now"]
    request = EnqueueRequest(row["task_type"], new["payload"], new["queue"], utc(new["run_at"]),
                             new["priority"], max_attempts=new["max_attempts"])
    try:
        payload_json(request)
    except ValueError as exc:
        raise Refused(str(exc).removeprefix("pgtask: ")) from None
    if request.max_attempts is not None and request.max_attempts < row["attempt"]:
        raise Refused(f"task {row['id']} has used {row['attempt']} attempts; max_attempts "
                      f"{request.max_attempts} would leave none")
    return request


def _update(conn: Conn, task_id: int, changes: Mapping[str, Any]) -> Row | None:
    row = _locked(conn, task_id, "updated")
    if row is None:
        return None
    new = merged(row, changes)
    assert new.queue is not None and new.run_at is not None, "merged fills both from the row"
    with conn.cursor() as cur:
        key = row["idempotency_key"]
        if new.queue != row["queue"]:
            ensure_queues(cur, [new.queue])
            if key is not None:
                if cur.execute(KEY_TAKEN, (new.queue, key)):
                    raise Refused(f"queue {new.queue!r} already has a task with this "
                                  "idempotency key")
                cur.execute(MOVE_KEY, (new.queue, row["queue"], key, task_id))
        cur.execute(UPDATE_TASK, (json.dumps(new.payload), new.queue, new.priority,
                                  sql_time(new.run_at), new.max_attempts, task_id))
    return fetch(conn, SHOW_TASK, (task_id,))[0]


def update_task(conn: Conn, task_id: int, changes: Mapping[str, Any]) -> Row | None:
    """Change a queued task (Refused: a bad value, or it is not queued); None: no such task."""
    values = {k: utc(v) if isinstance(v, datetime) else v for k, v in changes.items()}
    return transaction(conn, _update, task_id, values)


def task_states(conn: Conn, ids: Sequence[int]) -> dict[int, str]:
    """The state of each of `ids` that exists (missing ids: no such task, or pruned)."""
    if not ids:
        return {}
    query = STATES.format(ids=", ".join(["%s"] * len(ids)))
    return {row["id"]: row["state"] for row in fetch(conn, query, list(ids))}


def errored_tasks(conn: Conn, *, queue: str | None = None, before: int | None = None,
                  limit: int = 100) -> list[Row]:
    """Tasks that failed at least once, in any state, newest first (keyset below `before`)."""
    cursor = NO_CURSOR if before is None else before
    rows = fetch(conn, ERRORED, [cursor, queue, queue, limit] * 2 + [limit])
    for row in rows:
        if isinstance(row["failed_at"], str):
            row["failed_at"] = datetime.fromisoformat(row["failed_at"])
    return rows
