"""Task type definitions on MySQL: workers record theirs (pgtask_task_types), and enqueues
that leave out queue, priority or max_attempts take them, as Postgres's enqueue_task does."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pymysql.connections import Connection
from pymysql.cursors import Cursor

from pgtask.models import EnqueueRequest
from pgtask.store.mysql.inspect import fetch
from pgtask.store.mysql.sql import in_list

DEFINITIONS = """
SELECT name, queue, priority, max_attempts FROM pgtask_task_types WHERE name IN ({names})
"""
# The latest worker to start wins; updated_at moves only when an option changed.
UPSERT = """
INSERT INTO pgtask_task_types (name, queue, priority, max_attempts, timeout_seconds, title,
                               description, last_worker)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON DUPLICATE KEY UPDATE
  updated_at = IF((queue, priority, COALESCE(max_attempts, 0), COALESCE(timeout_seconds, 0),
                   title, description)
                  = (VALUES(queue), VALUES(priority), COALESCE(VALUES(max_attempts), 0),
                     COALESCE(VALUES(timeout_seconds), 0), VALUES(title), VALUES(description)),
                  updated_at, UTC_TIMESTAMP(6)),
  queue = VALUES(queue), priority = VALUES(priority), max_attempts = VALUES(max_attempts),
  timeout_seconds = VALUES(timeout_seconds), title = VALUES(title),
  description = VALUES(description), last_seen_at = UTC_TIMESTAMP(6),
  last_worker = VALUES(last_worker)
"""


def with_type_defaults(cur: Cursor, requests: Sequence[EnqueueRequest]) -> list[EnqueueRequest]:
    """The requests with what they leave out filled from their types' definitions."""
    wanted = sorted({r.task_type for r in requests
                     if r.queue is None or r.priority is None or r.max_attempts is None})
    found: dict[str, tuple[str, int, int | None]] = {}
    if wanted:
        cur.execute(DEFINITIONS.format(names=in_list(len(wanted))), wanted)
        found = {row[0]: (row[1], row[2], row[3]) for row in cur.fetchall()}
    return [fill(r, found.get(r.task_type)) for r in requests]


def fill(request: EnqueueRequest, definition: tuple[str, int, int | None] | None
         ) -> EnqueueRequest:
    """Explicit values win, then the definition's, then 'default', 0 and the queue's."""
    queue, priority, max_attempts = definition or ("default", 0, None)
    return dataclasses.replace(
        request,
        queue=request.queue if request.queue is not None else queue,
        priority=request.priority if request.priority is not None else priority,
        max_attempts=request.max_attempts if request.max_attempts is not None else max_attempts)


def register(conn: Connection[Any], worker_id: str,
             definitions: Sequence[Mapping[str, Any]]) -> int:
    """Upsert a starting worker's definitions (registry.definitions()); how many. One
    multi-row statement (executemany), in name order so concurrent starts lock alike."""
    rows = [(d["name"], d.get("queue") or "default", d.get("priority") or 0,
             d.get("max_attempts"), d.get("timeout_seconds"), d.get("title") or "",
             d.get("description") or "", worker_id)
            for d in sorted(definitions, key=lambda d: str(d["name"]))]
    if rows:
        with conn.cursor(Cursor) as cur:
            cur.executemany(UPSERT, rows)
    return len(definitions)


LIST = """
SELECT t.name, t.queue, t.priority, t.max_attempts, t.timeout_seconds AS timeout, t.title,
       t.description, t.updated_at, t.last_seen_at, w.id AS worker, w.heartbeat_at
  FROM pgtask_task_types t
  LEFT JOIN pgtask_workers w ON JSON_CONTAINS(w.task_types, JSON_QUOTE(t.name))
 ORDER BY t.name, w.id
"""


def task_types(conn: Connection[Any]) -> list[dict[str, Any]]:
    """As Postgres's: one row per type, its live workers and when one was last seen."""
    out: dict[str, dict[str, Any]] = {}
    for row in fetch(conn, LIST):
        worker, beat = row.pop("worker"), row.pop("heartbeat_at")
        entry = out.setdefault(row["name"], {**row, "workers": []})
        if worker is not None:
            entry["workers"].append(worker)
            entry["last_seen_at"] = max(entry["last_seen_at"], beat)
    return list(out.values())
