"""Read-only queries for `pgtask top` (and /metrics' snapshot reads).

One `top` refresh is the statements of TOP_QUERIES, sent in one pipeline inside one
read-only REPEATABLE READ transaction, so every number in a frame comes from the same
instant. Their cost does not grow with history: QUEUES scans pgtask.tasks (which the design
keeps small) and a short range of the partial index task_history_dead; EVENTS reads only the
history rows finished since the previous refresh (a range of task_history_finished_at; the
console keeps the last five minutes, see console/window.py); WORKERS and HEALTH read a few
rows. bench/top_refresh.py measures it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgtask.store.base import Row
from pgtask.store.postgres.schema import Connection

# Every query takes %(now)s: null means the database clock; tests pass a fixed instant.
# The expression is written out where it is used (not read from a CTE) so that the planner
# sees its value and estimates "finished in the last 5 minutes" from the histogram: hidden
# in a CTE it guessed a third of history, and the inflated cost set off a 3-second JIT
# compilation. JIT is off for the snapshot anyway: small queries every second never repay it.
NOW = "coalesce(%(now)s::timestamptz, pg_catalog.now())"
# Windows over finished work end one second back, so that a finish committed just after a
# refresh (its finished_at is its transaction's start) is still read by the next one.
UNTIL = f"({NOW} - interval '1 second')"



def finite(expression: str) -> str:
    """`expression` (a timestamptz) within Python's years 1-9999, as decode.py loads it: a
    stored run_at may be ±infinity or BC (an old row, or one the owner wrote), and Postgres
    refuses to subtract an infinite timestamp, which would fail the whole query."""
    return (f"least(greatest({expression}, '0001-01-01 00:00:00+00'::timestamptz), "
            f"'9999-12-31 23:59:59.999999+00'::timestamptz)")


SNAPSHOT_TRANSACTION = ("set transaction isolation level repeatable read, read only",
                        "set local jit = off")

TOP_CLOCK = f"select {NOW} as at, {UNTIL} as until"

# Failed attempts of tasks that will retry are entries of the hot rows' `errors` arrays.
TOP_QUEUES = f"""
with hot as (
  select t.queue,
         count(*) filter (where t.state = 'queued' and t.run_at <= {NOW}) as queued,
         count(*) filter (where t.state = 'queued' and t.run_at > {NOW}) as scheduled,
         count(*) filter (where t.state = 'running') as running,
         min(t.run_at) filter (where t.state = 'queued' and t.run_at <= {NOW}) as oldest_ready
    from pgtask.tasks t
   group by t.queue
),
retrying as (
  select t.queue,
         count(*) filter (where e.at > {UNTIL} - interval '10 seconds') as failed_10s,
         count(*) filter (where e.at > {UNTIL} - interval '1 minute') as failed_1m,
         count(*) as failed_5m
    from pgtask.tasks t,
         lateral (select (x->>'at')::timestamptz as at from jsonb_array_elements(t.errors) x) e
   where t.errors <> '[]' and e.at > {UNTIL} - interval '5 minutes' and e.at <= {UNTIL}
   group by t.queue
),
dead as (
  select h.queue, count(*) as dead_1h
    from pgtask.task_history h
   where h.state = 'dead' and h.finished_at > {NOW} - interval '1 hour'
   group by h.queue
)
select q.name, q.paused, q.concurrency_limit, q.rate_limit, q.rate_burst, q.target_url,
       coalesce(h.queued, 0) as queued, coalesce(h.scheduled, 0) as scheduled,
       coalesce(h.running, 0) as running,
       extract(epoch from {NOW} - {finite('h.oldest_ready')})::float8 as lag,
       coalesce(r.failed_10s, 0) as failed_10s, coalesce(r.failed_1m, 0) as failed_1m,
       coalesce(r.failed_5m, 0) as failed_5m, coalesce(d.dead_1h, 0) as dead_1h
  from pgtask.queues q
  left join hot h on h.queue = q.name
  left join retrying r on r.queue = q.name
  left join dead d on d.queue = q.name
 order by q.name
"""

# What finished in (since, until], as (kind, queue, at, n, wait) rows: completions and failed
# attempts per queue and second, and each pickup latency (claim - run_at) of the last minute;
# plus, read afresh each time, the pickup latency of every task running now.
TOP_EVENTS = f"""
with recent as materialized (
  select h.queue, h.state, h.finished_at, h.attempted_at, h.run_at, h.errors
    from pgtask.task_history h
   where h.finished_at > greatest(%(since)s::timestamptz, {UNTIL} - interval '5 minutes')
     and h.finished_at <= {UNTIL}
)
select 'done' as kind, r.queue, floor(extract(epoch from r.finished_at))::float8 as at,
       count(*) as n, null::float8 as wait
  from recent r where r.state = 'succeeded'
 group by r.queue, 3
union all
select 'failed', r.queue, floor(extract(epoch from e.at))::float8, count(*), null
  from recent r,
       lateral (select (x->>'at')::timestamptz as at from jsonb_array_elements(r.errors) x) e
 where r.errors <> '[]' and e.at > {UNTIL} - interval '5 minutes'
 group by r.queue, 3
union all
select 'pickup', r.queue, extract(epoch from r.attempted_at)::float8, 1,
       extract(epoch from r.attempted_at - {finite('r.run_at')})::float8
  from recent r where r.attempted_at > {UNTIL} - interval '1 minute'
union all
select 'running', t.queue, extract(epoch from t.attempted_at)::float8, 1,
       extract(epoch from t.attempted_at - {finite('t.run_at')})::float8
  from pgtask.tasks t
 where t.state = 'running' and t.attempted_at > {UNTIL} - interval '1 minute'
   and t.attempted_at <= {UNTIL}
"""

# Why a queue lags, per task type with tasks ready now: has any worker ever registered the
# type (pgtask.task_types), and does a live worker (a heartbeat in the last 30 s, top's
# "stale" threshold) serve its queue and type? HTTP-target tasks need no handler.
TOP_TYPES = f"""
select r.queue, r.task_type, r.ready,
       exists (select 1 from pgtask.task_types d where d.name = r.task_type) as registered,
       exists (select 1 from pgtask.workers w
                where w.heartbeat_at > {NOW} - interval '30 seconds'
                  and (w.queues is null or r.queue = any(w.queues))
                  and (w.task_types is null or r.task_type = any(w.task_types) or r.http))
         as served
  from (select t.queue, t.task_type, count(*) as ready,
               bool_or(t.target_url is not null or q.target_url is not null) as http
          from pgtask.tasks t left join pgtask.queues q on q.name = t.queue
         where t.state = 'queued' and t.run_at <= {NOW}
         group by t.queue, t.task_type) r
 order by r.queue, r.task_type
 limit 500
"""

TOP_WORKERS = """
select w.id, w.host, w.pid, w.queues, w.task_types, w.concurrency, w.in_flight,
       w.started_at, w.heartbeat_at
  from pgtask.workers w
 order by w.host, w.pid, w.id
"""

# What holds back the xmin horizon, so that vacuum cannot clean pgtask.tasks: the oldest
# transaction in this database (other than ours), replication slot and prepared transaction.
# The backends of this database holding vacuum's xmin horizon back, for top's health line and
# /metrics' xmin gauges alike: a snapshot or an xid (an idle writer has no snapshot and holds
# it back all the same); not this backend; not autovacuum (vacuum ignores a running vacuum);
# not a logical walsender (its slot's xmin counts instead). A physical walsender (datname
# null) carries a standby's hot_standby_feedback.
XMIN_BACKENDS = """
select a.pid, a.state, a.application_name,
       greatest(age(a.backend_xmin), age(a.backend_xid))::bigint as xmin_age,
       extract(epoch from clock_timestamp() - a.xact_start)::float8 as seconds
  from pg_stat_activity a
 where (a.backend_xmin is not null or a.backend_xid is not null)
   and a.pid <> pg_backend_pid()
   and case a.backend_type when 'autovacuum worker' then false
                           when 'walsender' then a.datname is null
                           else a.datname = current_database() end
"""
TOP_HEALTH = f"""
select s.n_dead_tup, s.n_live_tup, s.last_autovacuum, s.last_vacuum,
       pg_notification_queue_usage()::float8 as notify_queue_usage,
       (select g.tgenabled <> 'D' from pg_trigger g
         where g.tgrelid = 'pgtask.tasks'::regclass and g.tgname = 'tasks_notify')
         as notify_trigger,
       array(select row_to_json(x) from (
         (select 'transaction' as kind, h.pid::text as name, h.xmin_age, h.seconds,
                 concat_ws(', ', nullif(h.state, ''), nullif(h.application_name, '')) as detail
            from ({XMIN_BACKENDS}) h order by h.xmin_age desc limit 1)
         union all
         (select 'slot', r.slot_name::text, age(r.xmin)::bigint, null,
                 concat_ws(', ', r.slot_type, case when r.active then 'active' else 'inactive' end)
            from pg_replication_slots r where r.xmin is not null
           order by age(r.xmin) desc limit 1)
         union all
         (select 'prepared', p.gid, age(p.transaction)::bigint,
                 extract(epoch from clock_timestamp() - p.prepared)::float8, p.owner::text
            from pg_prepared_xacts p where p.database = current_database()
           order by age(p.transaction) desc limit 1)
       ) x) as xmin_holders
  from (select 'pgtask.tasks'::regclass as relid) t
  left join pg_stat_user_tables s on s.relid = t.relid
"""

TOP_QUERIES = {"clock": TOP_CLOCK, "queues": TOP_QUEUES, "events": TOP_EVENTS,
               "workers": TOP_WORKERS, "health": TOP_HEALTH, "types": TOP_TYPES}


def top_rows(conn: Connection, *, since: datetime | None = None,
             now: datetime | None = None) -> dict[str, list[Row]]:
    """Everything one `top` frame needs, as rows keyed by query name (see TOP_QUERIES).

    `since`: the `until` of the previous refresh (None: read the whole five minutes).
    `conn` is an autocommit dict-row connection; the transaction opened here lasts only as
    long as the pipeline. Build a Snapshot with pgtask.ops.snapshot.from_rows.
    """
    return read_snapshot(conn, TOP_QUERIES, {"now": now, "since": since})


def read_snapshot(conn: psycopg.Connection[Any], queries: dict[str, str],
                  params: dict[str, Any]) -> dict[str, list[Row]]:
    """Run `queries` on one snapshot and return their rows (as dicts) by name. BEGIN, the
    statements and COMMIT travel together in a pipeline: one round trip however many."""
    with conn.pipeline(), conn.transaction():
        for statement in SNAPSHOT_TRANSACTION:
            conn.execute(statement)
        cursors = {name: conn.cursor(row_factory=dict_row).execute(
                       query, params if "%(" in query else None)
                   for name, query in queries.items()}
    return {name: cur.fetchall() for name, cur in cursors.items()}
