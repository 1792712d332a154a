"""What /metrics reads at scrape time: the work done since the previous scrape.

The counters of pgtask.web.metrics count from the server's first scrape. Each scrape reads
only what happened in (since, until], `until` being the database clock minus one second (a
finish committed just after a scrape still lands in the next window, as in inspect.py's top_rows):

- enqueued: tasks with an id above the last one counted (a range of both primary keys);
- finished: history rows by finished_at (index task_history_finished_at), with pickup
  latency (claim - run_at) and run time (finish - claim) of their last attempt, bucketed in
  SQL so a busy window is a few rows, not one per task;
- failed attempts: error entries stamped in the window, of unfinished tasks (the hot table,
  small by design) and of tasks that finished since `since`;
- HTTP attempts of the tasks that finished in the window, by status (index on task_id).

All statements go in one pipeline inside one REPEATABLE READ, read-only transaction, so they
share one instant and one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg.rows import DictRow

from pgtask.store.postgres.browse import Connection
from pgtask.store.postgres.top import finite, read_snapshot

UNTIL = "(pg_catalog.now() - interval '1 second')"

CLOCK = f"""
select {UNTIL} as until,
       (select case when is_called then last_value else 0 end from pgtask.task_id_seq) as last_id
"""
ENQUEUED = f"""
select queue, task_type, count(*) as n, max(id) as max_id from pgtask.all_tasks
 where id > %(last_id)s and created_at <= {UNTIL}
 group by 1, 2
"""
FINISHED = f"""
select queue, task_type, state::text as state, count(*) as n from pgtask.task_history
 where finished_at > %(since)s and finished_at <= {UNTIL}
 group by 1, 2, 3
"""
FAILED = f"""
select f.queue, f.task_type, count(*) as n
  from (select queue, task_type, errors from pgtask.tasks where errors <> '[]'
        union all
        select queue, task_type, errors from pgtask.task_history
         where finished_at > %(since)s and errors <> '[]') f,
       lateral (select (x->>'at')::timestamptz as at from jsonb_array_elements(f.errors) x) e
 where e.at > %(since)s and e.at <= {UNTIL}
 group by 1, 2
"""
# width_bucket(v, bounds) is 0 below bounds[1], i for bounds[i] <= v < bounds[i+1], and n
# at or above the last bound: index i is Prometheus bucket le=bounds[i+1] (i = n: +Inf).
DURATIONS = f"""
with done as materialized (
  select queue, extract(epoch from attempted_at - {finite('run_at')})::float8 as pickup,
         extract(epoch from finished_at - attempted_at)::float8 as run
    from pgtask.task_history
   where finished_at > %(since)s and finished_at <= {UNTIL} and attempted_at is not null
)
select 'pickup' as kind, queue, width_bucket(pickup, %(bounds)s::float8[]) as bucket,
       count(*) as n, sum(pickup) as total
  from done group by 1, 2, 3
union all
select 'run', queue, width_bucket(run, %(bounds)s::float8[]), count(*), sum(run)
  from done group by 1, 2, 3
"""
HTTP = f"""
select h.queue, coalesce(a.status::text, 'none') as status, count(*) as n
  from pgtask.task_history h join pgtask.http_attempts a on a.task_id = h.id
 where h.finished_at > %(since)s and h.finished_at <= {UNTIL}
 group by 1, 2
"""

QUERIES = {"clock": CLOCK, "enqueued": ENQUEUED, "finished": FINISHED, "failed": FAILED,
           "durations": DURATIONS, "http": HTTP}


def start_marks(conn: Connection) -> DictRow:
    """Where counting starts: {'until': the window's end, 'last_id': the newest task id}."""
    row = conn.execute(CLOCK).fetchone()
    assert row is not None, "select without from returns one row"
    return row


def metrics_rows(conn: Connection, since: datetime, last_id: int,
                 bounds: Sequence[float]) -> dict[str, list[DictRow]]:
    """The rows of QUERIES for the window after `since` and the ids above `last_id`."""
    # read_snapshot takes a connection of any row type (its annotation says tuples).
    untyped = cast("psycopg.Connection[Any]", conn)
    return read_snapshot(untyped, QUERIES, {"since": since, "last_id": last_id,
                                            "bounds": list(bounds)})
