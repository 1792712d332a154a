"""Read-only queries for `pgtask top`, `ls`, `show` and `stats`.

One `top` refresh is the four statements below, sent in one pipeline inside one read-only
REPEATABLE READ transaction, so every number in a frame comes from the same instant.
Costs (measured by bench/top_refresh.py): QUEUES and the hot half of RECENT scan
pgtask.tasks, which the design keeps small; the history half of RECENT is a range scan of
task_history_finished_at over the last five minutes; dead tasks use the small partial index
task_history_dead; WORKERS and HEALTH read a handful of rows.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

# Every query takes %(now)s: null means the database clock; tests pass a fixed instant.
_CLOCK = "clock as (select coalesce(%(now)s::timestamptz, pg_catalog.now()) as now)"

SNAPSHOT_TRANSACTION = "set transaction isolation level repeatable read, read only"

TOP_CLOCK = "select coalesce(%(now)s::timestamptz, pg_catalog.now()) as at"

TOP_QUEUES = f"""
with {_CLOCK},
hot as (
  select t.queue,
         count(*) filter (where t.state = 'queued' and t.run_at <= c.now) as queued,
         count(*) filter (where t.state = 'queued' and t.run_at > c.now) as scheduled,
         count(*) filter (where t.state = 'running') as running,
         min(t.run_at) filter (where t.state = 'queued' and t.run_at <= c.now) as oldest_ready
    from pgtask.tasks t, clock c
   group by t.queue
)
select q.name, q.paused, q.concurrency_limit, q.rate_limit, q.rate_burst, q.target_url,
       coalesce(h.queued, 0) as queued, coalesce(h.scheduled, 0) as scheduled,
       coalesce(h.running, 0) as running,
       extract(epoch from c.now - h.oldest_ready)::float8 as lag
  from pgtask.queues q cross join clock c left join hot h on h.queue = q.name
 order by q.name
"""

# Failed attempts are the entries of the `errors` arrays (each has an "at"), whether the
# task was retried (still in tasks) or finished since (in history).
TOP_RECENT = f"""
with {_CLOCK},
recent as materialized (
  select h.queue, h.state, h.finished_at, h.attempted_at, h.run_at, h.errors
    from pgtask.task_history h, clock c
   where h.finished_at > c.now - interval '5 minutes' and h.finished_at <= c.now
),
done as (
  select r.queue,
         count(*) filter (where r.finished_at > c.now - interval '10 seconds') as completed_10s,
         count(*) filter (where r.finished_at > c.now - interval '1 minute') as completed_1m,
         count(*) as completed_5m
    from recent r, clock c
   where r.state = 'succeeded'
   group by r.queue
),
seconds as (
  select r.queue, floor(extract(epoch from c.now - r.finished_at))::int as ago, count(*) as n
    from recent r, clock c
   where r.state = 'succeeded' and r.finished_at > c.now - interval '60 seconds'
   group by 1, 2
),
sparks as (
  select s.queue, jsonb_object_agg(s.ago, s.n) as per_second from seconds s group by s.queue
),
failures as (
  select r.queue, (e->>'at')::timestamptz as at
    from recent r, jsonb_array_elements(r.errors) e where r.errors <> '[]'
  union all
  select t.queue, (e->>'at')::timestamptz
    from pgtask.tasks t, jsonb_array_elements(t.errors) e where t.errors <> '[]'
),
failed as (
  select f.queue,
         count(*) filter (where f.at > c.now - interval '10 seconds') as failed_10s,
         count(*) filter (where f.at > c.now - interval '1 minute') as failed_1m,
         count(*) as failed_5m
    from failures f, clock c
   where f.at > c.now - interval '5 minutes' and f.at <= c.now
   group by f.queue
),
pickups as (
  select r.queue, extract(epoch from r.attempted_at - r.run_at)::float8 as wait
    from recent r, clock c where r.attempted_at > c.now - interval '1 minute'
  union all
  select t.queue, extract(epoch from t.attempted_at - t.run_at)::float8
    from pgtask.tasks t, clock c
   where t.state = 'running' and t.attempted_at > c.now - interval '1 minute'
),
latency as (
  select p.queue, percentile_cont(array[0.5, 0.95, 0.99]) within group (order by p.wait) as p
    from pickups p group by p.queue
),
dead as (
  select h.queue, count(*) as dead_1h
    from pgtask.task_history h, clock c
   where h.state = 'dead' and h.finished_at > c.now - interval '1 hour'
   group by h.queue
)
select q.name,
       coalesce(d.completed_10s, 0) as completed_10s, coalesce(d.completed_1m, 0) as completed_1m,
       coalesce(d.completed_5m, 0) as completed_5m,
       coalesce(f.failed_10s, 0) as failed_10s, coalesce(f.failed_1m, 0) as failed_1m,
       coalesce(f.failed_5m, 0) as failed_5m,
       coalesce(x.dead_1h, 0) as dead_1h, l.p as pickup, s.per_second
  from pgtask.queues q
  left join done d on d.queue = q.name
  left join failed f on f.queue = q.name
  left join latency l on l.queue = q.name
  left join dead x on x.queue = q.name
  left join sparks s on s.queue = q.name
 order by q.name
"""

TOP_WORKERS = """
select w.id, w.host, w.pid, w.queues, w.task_types, w.concurrency, w.in_flight,
       w.started_at, w.heartbeat_at
  from pgtask.workers w
 order by w.host, w.pid, w.id
"""

# What holds back the xmin horizon, so that vacuum cannot clean pgtask.tasks: the oldest
# transaction in this database (other than ours), replication slot and prepared transaction.
TOP_HEALTH = """
select s.n_dead_tup, s.n_live_tup, s.last_autovacuum, s.last_vacuum,
       pg_notification_queue_usage()::float8 as notify_queue_usage,
       (select g.tgenabled <> 'D' from pg_trigger g
         where g.tgrelid = 'pgtask.tasks'::regclass and g.tgname = 'tasks_notify') as notify_trigger,
       array(select row_to_json(x) from (
         (select 'transaction' as kind, a.pid::text as name, age(a.backend_xmin)::bigint as xmin_age,
                 extract(epoch from clock_timestamp() - a.xact_start)::float8 as seconds,
                 concat_ws(', ', nullif(a.state, ''), nullif(a.application_name, '')) as detail
            from pg_stat_activity a
           where a.backend_xmin is not null and a.pid <> pg_backend_pid()
             and (a.datname = current_database() or a.backend_type = 'walsender')
           order by age(a.backend_xmin) desc limit 1)
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

TOP_QUERIES = {"clock": TOP_CLOCK, "queues": TOP_QUEUES, "recent": TOP_RECENT,
               "workers": TOP_WORKERS, "health": TOP_HEALTH}


def top_rows(conn: psycopg.Connection, now: Any = None) -> dict[str, list[dict]]:
    """Everything one `top` frame needs, as rows keyed by query name (see TOP_QUERIES).

    `conn` is an autocommit dict-row connection; the transaction opened here lasts only as
    long as the pipeline. Build a Snapshot with pgtask.console.snapshot.from_rows.
    """
    params = {"now": now}
    with conn.transaction():
        with conn.pipeline():
            conn.execute(SNAPSHOT_TRANSACTION)
            cursors = {name: conn.cursor().execute(query, params if "%(now)s" in query else None)
                       for name, query in TOP_QUERIES.items()}
        return {name: cur.fetchall() for name, cur in cursors.items()}


# --- ls / show / stats -------------------------------------------------------------------

LIST_COLUMNS = sql.SQL(
    "select id, queue, task_type, state, priority, attempt, run_at, created_at, finished_at, "
    "worker_id, message from pgtask.all_tasks"
)


def list_tasks(conn: psycopg.Connection, *, state: str | None = None, queue: str | None = None,
               task_type: str | None = None, after: int = 0, limit: int = 50) -> list[dict]:
    """Up to `limit` tasks with id > `after`, by id: keyset pagination over hot and history.

    The view is a UNION ALL of two tables whose primary keys are ordered by id, so the
    planner merges two index scans and stops after `limit` matches.
    """
    filters = [sql.SQL("id > {}").format(sql.Literal(after))]
    for column, value in (("state", state), ("queue", queue), ("task_type", task_type)):
        if value is not None:
            filters.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder()))
    query = sql.SQL("{} where {} order by id limit {}").format(
        LIST_COLUMNS, sql.SQL(" and ").join(filters), sql.Literal(limit))
    values = [v for v in (state, queue, task_type) if v is not None]
    return conn.execute(query, values).fetchall()


SHOW_TASK = "select * from pgtask.all_tasks where id = %s"
SHOW_LOGS = """
select attempt, at, level, message from pgtask.task_logs where task_id = %s order by at limit %s
"""
HTTP_ATTEMPTS_TABLE = "select to_regclass('pgtask.http_attempts') is not null as present"
SHOW_HTTP_ATTEMPTS = """
select attempt, at, status, latency_ms, reason, response
  from pgtask.http_attempts where task_id = %s order by attempt, at
"""


def task_detail(conn: psycopg.Connection, task_id: int, log_limit: int = 1000) -> dict | None:
    """The task with its log lines and HTTP attempts (when that table exists), or None."""
    task = conn.execute(SHOW_TASK, (task_id,)).fetchone()
    if task is None:
        return None
    logs = conn.execute(SHOW_LOGS, (task_id, log_limit)).fetchall()
    attempts = None
    if conn.execute(HTTP_ATTEMPTS_TABLE).fetchone()["present"]:
        attempts = conn.execute(SHOW_HTTP_ATTEMPTS, (task_id,)).fetchall()
    return {"task": task, "logs": logs, "http_attempts": attempts}


STATS = """
select queue, state::text as state, count(*) as n from pgtask.all_tasks group by 1, 2 order by 1, 2
"""


def task_counts(conn: psycopg.Connection) -> list[dict]:
    """Tasks counted by queue and state (a full count: it reads all of history)."""
    return conn.execute(STATS).fetchall()
