"""The SQL of HTTP delivery (Postgres): queue dispatch policies, the attempt journal, the
shared adaptive rates. PostgresStore's implementation of those Store methods: functions over
a pooled connection, called (inside its error translation) only from store.py."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pgtask.models import Backoff, HttpAttempt, QueuePolicy
from pgtask.store.postgres.pool import Connection, scalar

POLICIES = """
select name, target_url, dispatch_deadline, concurrency_limit, rate_limit, rate_burst,
       max_attempts, min_backoff, max_backoff, max_doublings, dispatch_rate, dispatch_rate_at,
       workers
  from pgtask.dispatch_policies(%s::text[])
"""
RECORD_ATTEMPTS = """
select pgtask.record_http_attempts(%s::bigint[], %s::integer[], %s::interval[], %s::integer[],
                                   %s::double precision[], %s::text[], %s::text[])
"""
SET_RATES = "select pgtask.set_dispatch_rates(%s::text[], %s::double precision[])"
# How many earlier attempts got an answer, and the last status: the execution-count and
# previous-response headers of a retry.
HISTORY = """
select a.task_id, count(a.status)::integer,
       (array_agg(a.status order by a.attempt desc, a.at desc))[1]
  from pgtask.http_attempts a
 where a.task_id = any(%s::bigint[])
 group by a.task_id
"""


def _policy(row: tuple[Any, ...]) -> QueuePolicy:
    (name, target_url, deadline, concurrency, rate, burst, max_attempts, min_backoff,
     max_backoff, doublings, dispatch_rate, dispatch_rate_at, workers) = row
    return QueuePolicy(name, target_url, deadline, concurrency, rate, burst, max_attempts,
                       Backoff(min_backoff, max_backoff, doublings), dispatch_rate,
                       dispatch_rate_at, max(1, workers))


async def queue_policies(conn: Connection,
                         names: Sequence[str] | None = None) -> dict[str, QueuePolicy]:
    """The dispatch policy of each named queue that exists (every queue when names is None)."""
    cur = await conn.execute(POLICIES, (None if names is None else list(names),))
    return {row[0]: _policy(row) for row in await cur.fetchall()}


async def attempt_history(conn: Connection,
                          task_ids: Sequence[int]) -> dict[int, tuple[int, int | None]]:
    """task id -> (attempts that got an HTTP answer, the last status) from the journal."""
    cur = await conn.execute(HISTORY, (list(task_ids),))
    return {task_id: (count, last) for task_id, count, last in await cur.fetchall()}


async def record_http_attempts(conn: Connection, attempts: Sequence[HttpAttempt],
                               rates: Mapping[str, float | None] | None = None
                               ) -> datetime | None:
    """Journal the attempts and publish changed adaptive rates in one round trip. Returns the
    database time the rates were stamped with (None when there were none)."""
    now = time.monotonic()
    async with conn.pipeline():
        if attempts:
            await conn.execute(RECORD_ATTEMPTS, (
                [a.task_id for a in attempts], [a.attempt for a in attempts],
                [timedelta(seconds=max(0.0, now - a.started)) for a in attempts],
                [a.status for a in attempts], [a.latency_ms for a in attempts],
                [a.reason for a in attempts], [a.response for a in attempts]))
        if not rates:
            return None
        cur = await conn.execute(SET_RATES, (list(rates), list(rates.values())))
    stamped: datetime | None = await scalar(cur)
    return stamped
