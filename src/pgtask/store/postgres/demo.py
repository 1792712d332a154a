"""Queries behind `pgtask demo`: set up its queue, count progress, summarise a run."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

SETUP_QUEUE = """
insert into pgtask.queues (name, min_backoff, max_backoff, backoff_jitter, max_attempts)
values (%s, '50 ms', '200 ms', 0.2, 3)
on conflict (name) do update
   set min_backoff = excluded.min_backoff, max_backoff = excluded.max_backoff,
       backoff_jitter = excluded.backoff_jitter, max_attempts = excluded.max_attempts,
       paused = false
"""
NEXT_ID = "select coalesce(pg_sequence_last_value('pgtask.task_id_seq'), 0)"
FINISHED = "select count(*) from pgtask.task_history where queue = %s and id > %s"
SUMMARY = """
select count(*) filter (where state = 'succeeded') as succeeded,
       count(*) filter (where state = 'succeeded' and attempt > 1) as retried,
       count(*) filter (where state = 'dead') as dead,
       count(*) filter (where state = 'cancelled') as cancelled,
       extract(epoch from max(finished_at) - min(started_at)) as seconds
  from pgtask.task_history where queue = %s and id > %s and id <= %s
"""
PICKUP = """
select percentile_cont(array[0.5, 0.99]) within group (order by
         extract(epoch from started_at - created_at) * 1000) as ms
  from pgtask.task_history where queue = %s and id > %s
"""


def setup_queue(dsn: str, queue: str) -> int:
    """Give the demo queue fast retries; return the id to count this run's tasks from."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SETUP_QUEUE, (queue,))
    return last_task_id(dsn)


def last_task_id(dsn: str) -> int:
    """The newest task id handed out so far (0 before the first)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(NEXT_ID).fetchone()[0]


def finished_count(conn: psycopg.Connection, queue: str, after_id: int) -> int:
    return conn.execute(FINISHED, (queue, after_id)).fetchone()[0]


def summary(dsn: str, queue: str, after_id: int, until_id: int) -> dict:
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(SUMMARY, (queue, after_id, until_id)).fetchone()


def pickup_ms(dsn: str, queue: str, after_id: int) -> list[float]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(PICKUP, (queue, after_id)).fetchone()[0] or [0.0, 0.0]
