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
- HTTP attempts of the tasks that finished in the window, by status (index on task_id);
- the xmin horizon (XMIN): a gauge, read at every scrape from pg_stat_activity,
  pg_prepared_xacts and pg_replication_slots (a few rows each, whatever the load).

The first scrape (start_marks) also reads KNOWN, the (queue, type) pairs of the hot table,
so that every counter starts at 0 for them and rate() sees their first event.

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
from pgtask.store.postgres.top import XMIN_BACKENDS, finite, read_snapshot

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

# The queue and type of every unfinished task: the series the next finishes will land in.
# pgtask.tasks is small by design (TOP_QUEUES scans it every second); the limit bounds the
# answer on a database with a runaway number of types (pairs past it start at their first
# event: a missed first increase, never a wrong count). Read once, at the first scrape.
KNOWN = """
select queue, task_type from pgtask.tasks group by 1, 2 order by 1, 2 limit 2000
"""
# What keeps vacuum from removing the dead rows of pgtask.tasks (docs: the xmin horizon):
# - seconds: how long the oldest holder has been open: a backend of XMIN_BACKENDS (top.py:
#   which ones count, and why autovacuum and logical walsenders do not, as Postgres's own
#   horizon in procarray.c leaves them out) or a prepared transaction; 0 when there is none.
# - xids: how many transactions back the oldest of those, or a replication slot's xmin, is.
XMIN = f"""
with holders as (
  select h.seconds, h.xmin_age as xids from ({XMIN_BACKENDS}) h
  union all
  select extract(epoch from clock_timestamp() - p.prepared)::float8, age(p.transaction)::bigint
    from pg_prepared_xacts p where p.database = current_database()
  union all
  select null, age(r.xmin)::bigint from pg_replication_slots r where r.xmin is not null
)
select coalesce(max(seconds), 0)::float8 as seconds, coalesce(max(xids), 0)::bigint as xids
  from holders
"""

QUERIES = {"clock": CLOCK, "enqueued": ENQUEUED, "finished": FINISHED, "failed": FAILED,
           "durations": DURATIONS, "http": HTTP, "xmin": XMIN}
START_QUERIES = {"clock": CLOCK, "known": KNOWN, "xmin": XMIN}


def start_marks(conn: Connection) -> dict[str, Any]:
    """Where counting starts: {'until': the window's end, 'last_id': the newest task id,
    'known': the rows of KNOWN, 'xmin': the row of XMIN}, read on one snapshot."""
    rows = read_snapshot(cast("psycopg.Connection[Any]", conn), START_QUERIES, {})
    return {**rows["clock"][0], "known": rows["known"], "xmin": rows["xmin"][0]}


def metrics_rows(conn: Connection, since: datetime, last_id: int,
                 bounds: Sequence[float]) -> dict[str, list[DictRow]]:
    """The rows of QUERIES for the window after `since` and the ids above `last_id`."""
    # read_snapshot takes a connection of any row type (its annotation says tuples).
    untyped = cast("psycopg.Connection[Any]", conn)
    return read_snapshot(untyped, QUERIES, {"since": since, "last_id": last_id,
                                            "bounds": list(bounds)})
