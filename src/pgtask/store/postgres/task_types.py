"""Task type definitions on Postgres, as operators read them (`pgtask tasks`)."""

from __future__ import annotations

from typing import Any

import psycopg

from pgtask.store.base import Row

# Each definition with the live workers that run the type and when one was last seen
# (their latest heartbeat; else the latest start-up that declared the type).
TASK_TYPES = """
select t.name, t.queue, t.priority, t.max_attempts,
       extract(epoch from t.timeout)::float8 as timeout, t.title, t.description,
       t.updated_at, coalesce(w.seen_at, t.last_seen_at) as last_seen_at,
       coalesce(w.ids, '{}') as workers
  from pgtask.task_types t
  left join lateral (
    select array_agg(w.id order by w.id) as ids, max(w.heartbeat_at) as seen_at
      from pgtask.workers w where t.name = any(w.task_types)) w on true
 order by t.name
"""


def task_types(conn: psycopg.Connection[Any]) -> list[Row]:
    return conn.execute(TASK_TYPES).fetchall()
