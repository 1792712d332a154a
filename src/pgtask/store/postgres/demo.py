"""Queries behind `pgtask demo`: set up its queue, count progress, summarise a run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgtask.store.base import Row
from pgtask.store.postgres.errors import translated

SETUP_QUEUE = """
insert into pgtask.queues (name, min_backoff, max_backoff, backoff_jitter, max_attempts)
values (%s, '50 ms', '200 ms', 0.2, 3)
on conflict (name) do update
   set min_backoff = excluded.min_backoff, max_backoff = excluded.max_backoff,
       backoff_jitter = excluded.backoff_jitter, max_attempts = excluded.max_attempts,
       paused = false
"""
LAST_ID = "select coalesce(pg_sequence_last_value('pgtask.task_id_seq'), 0) as id"
FINISHED = "select count(*) as n from pgtask.task_history where queue = %s and id > %s"
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


class DemoDatabase:
    """The demo's one autocommit connection; `connection` is the driver's own, for
    pgtask.enqueue (each enqueue commits at once)."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self.connection = conn

    def _one(self, query: str, *params: Any) -> Row:
        with translated():
            row = self.connection.execute(query, params).fetchone()
        if row is None:
            raise RuntimeError(f"{query!r} returned no row")
        return row

    def setup_queue(self, queue: str) -> int:
        """Give the demo queue fast retries; return the id to count this run's tasks from."""
        with translated():
            self.connection.execute(SETUP_QUEUE, (queue,))
        return self.last_task_id()

    def last_task_id(self) -> int:
        """The newest task id handed out so far (0 before the first)."""
        return int(self._one(LAST_ID)["id"])

    def finished_count(self, queue: str, after_id: int) -> int:
        return int(self._one(FINISHED, queue, after_id)["n"])

    def summary(self, queue: str, after_id: int, until_id: int) -> Row:
        return self._one(SUMMARY, queue, after_id, until_id)

    def pickup_ms(self, queue: str, after_id: int) -> list[float]:
        """p50 and p99 of claim minus enqueue, in milliseconds, of the tasks after `after_id`."""
        return [float(ms) for ms in self._one(PICKUP, queue, after_id)["ms"] or [0.0, 0.0]]


@contextmanager
def open_demo_database(dsn: str) -> Iterator[DemoDatabase]:
    with translated():
        conn = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)
    try:
        yield DemoDatabase(conn)
    finally:
        conn.close()
