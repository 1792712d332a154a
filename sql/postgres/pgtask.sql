-- pgtask: a task queue that lives in PostgreSQL.
--
-- This file is the current schema, meant to be read top to bottom: types, tables, indexes,
-- functions, triggers, grants. Everything lives in schema "pgtask"; nothing is created
-- outside it. Migrations (alembic/versions) execute frozen copies of it; a test proves that
-- both build the same database.
--
-- The life of a task:
--
--     queued ──claim──▶ running ──complete──▶ succeeded
--       ▲  ▲              │  │
--       │  └──fail/retry──┘  └──fail (exhausted or permanent)──▶ dead
--       │                  any unfinished ──cancel──▶ cancelled
--       └──────────── retry_task (dead | cancelled) ◀────────────┘
--
-- Unfinished tasks (queued, running) live in the small, hot "tasks" table that claims scan.
-- The statement that finishes a task moves it to "task_history", so the claim index never
-- wades through finished rows; "prune" trims history by age.

create schema if not exists pgtask;

-------------------------------------------------------------------------------------------
-- Types
-------------------------------------------------------------------------------------------

create type pgtask.task_state as enum ('queued', 'running', 'succeeded', 'dead', 'cancelled');

-- Task ids come from one sequence shared by the hot table and history, so an id names a
-- task for its whole life, wherever it lives.
create sequence pgtask.task_id_seq as bigint;

-------------------------------------------------------------------------------------------
-- Tables
-------------------------------------------------------------------------------------------

-- A queue is a row of policy. Enqueueing into a queue that has no row creates one with the
-- defaults below; operators change them with "pgtask queue set".
create table pgtask.queues (
  name              text primary key
                    constraint queue_name_is_valid check (name ~ '^[a-z0-9][a-z0-9_.:-]*$' and length(name) <= 128),
  paused            boolean not null default false,
  -- At most this many tasks of the queue run at once, counted across every worker.
  concurrency_limit integer constraint concurrency_limit_is_positive check (concurrency_limit > 0),
  -- A token bucket shared by every worker: rate_limit tasks per second, bursts of rate_burst.
  rate_limit        double precision constraint rate_limit_is_positive check (rate_limit > 0),
  rate_burst        integer not null default 1 constraint rate_burst_is_positive check (rate_burst > 0),
  rate_tokens       double precision not null default 0,
  rate_updated_at   timestamptz not null default now(),
  -- Retry policy: min_backoff * 2^(attempt - 1), doubling at most max_doublings times,
  -- capped at max_backoff, spread by +/- backoff_jitter / 2.
  max_attempts      integer not null default 20
                    constraint max_attempts_in_range check (max_attempts between 1 and 1000),
  min_backoff       interval not null default '1 second'
                    constraint min_backoff_is_positive check (min_backoff > '0'),
  max_backoff       interval not null default '1 hour',
  max_doublings     integer not null default 20
                    constraint max_doublings_in_range check (max_doublings between 0 and 60),
  backoff_jitter    double precision not null default 0.2
                    constraint backoff_jitter_in_range check (backoff_jitter between 0 and 1),
  -- How long a claim lasts without a heartbeat before the task may be claimed again.
  lease             interval not null default '30 seconds'
                    constraint lease_is_positive check (lease > '0'),
  -- HTTP targets: POST each task of this queue to target_url, waiting dispatch_deadline.
  target_url        text constraint target_url_is_http check (target_url ~ '^https?://'),
  dispatch_deadline interval not null default '30 seconds'
                    constraint dispatch_deadline_is_positive check (dispatch_deadline > '0'),
  -- The adaptive rate (tasks/s for the whole queue) a worker last set after the target
  -- pushed back (429/503, slow answers); null: not throttled. Workers share it through here.
  dispatch_rate     double precision constraint dispatch_rate_is_positive check (dispatch_rate > 0),
  dispatch_rate_at  timestamptz,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  -- Unstuck: a run that lasts longer than this is taken away from its worker at its next
  -- heartbeat (the handler cancelled, the attempt failed), however alive the worker is;
  -- null: no limit but the task type's own timeout. Off by default: an upgrade must not
  -- start failing long jobs that run as intended. (After updated_at: added by 0005.)
  max_run_time      interval constraint max_run_time_in_range
                    check (max_run_time between '1 second' and '365 days'),
  constraint backoff_bounds_are_ordered check (max_backoff >= min_backoff)
);

-- Unfinished work: the only table a claim reads. Kept small on purpose.
create table pgtask.tasks (
  id               bigint primary key default nextval('pgtask.task_id_seq'),
  -- No defaults for queue and priority: a row that leaves them out takes its task type's
  -- (the tasks_apply_task_type trigger fills them in, falling back to 'default' and 0).
  queue            text not null
                   constraint queue_name_is_valid check (queue ~ '^[a-z0-9][a-z0-9_.:-]*$' and length(queue) <= 128),
  task_type        text not null
                   constraint task_type_is_valid check (task_type ~ '^[a-z0-9][a-z0-9_.:-]*$' and length(task_type) <= 128),
  payload          jsonb not null default '{}'
                   constraint payload_is_an_object check (jsonb_typeof(payload) = 'object'),
  state            pgtask.task_state not null default 'queued'
                   constraint tasks_hold_unfinished_work check (state in ('queued', 'running')),
  priority         smallint not null
                   constraint priority_in_range check (priority between -1000 and 1000),
  run_at           timestamptz not null default now(),
  attempt          integer not null default 0 constraint attempt_not_negative check (attempt >= 0),
  -- null: the queue's max_attempts, read when the task fails.
  max_attempts     integer constraint max_attempts_in_range check (max_attempts between 1 and 1000),
  idempotency_key  text constraint idempotency_key_length check (length(idempotency_key) between 1 and 255),
  target_url       text constraint target_url_is_http check (target_url ~ '^https?://'),
  lease_token      uuid,
  lease_expires_at timestamptz,
  worker_id        text,
  created_at       timestamptz not null default now(),
  started_at       timestamptz,  -- first claim
  attempted_at     timestamptz,  -- latest claim
  errors           jsonb not null default '[]'
                   constraint errors_is_an_array check (jsonb_typeof(errors) = 'array'),
  -- Chains: the task whose finish enqueued this one, the fan-in group it belongs to, and
  -- what to enqueue when it succeeds or ends dead (see check_follow_ups).
  parent_id        bigint,
  group_id         bigint,
  on_success       jsonb,
  on_failure       jsonb,
  -- The enqueuing span's W3C trace context (traceparent, tracestate), continued by the
  -- worker's span; untrusted input, capped. Not carried to task_history.
  trace_context    jsonb
                   constraint trace_context_is_small_object check (
                     jsonb_typeof(trace_context) = 'object' and octet_length(trace_context::text) <= 4096),
  -- 1 MiB; an operator may replace this constraint to change the cap.
  constraint payload_size_cap check (octet_length(payload::text) <= 1048576),
  -- A running task holds a whole lease; a queued one holds no part of one.
  constraint running_iff_leased check (
    case when state = 'running'
         then lease_token is not null and lease_expires_at is not null
              and worker_id is not null and attempted_at is not null
         else lease_token is null and lease_expires_at is null and worker_id is null end),
  constraint attempts_within_max check (max_attempts is null or attempt <= max_attempts)
)
-- Every task leaves dead tuples behind (claimed, then moved to history): vacuum this small
-- table after a fixed number of them rather than a fraction of its size, without the cost
-- delay. Workers also vacuum it between autovacuum naps (see PostgresStore.maintain).
with (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
      autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000,
      autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000,
      autovacuum_vacuum_cost_delay = 0);

-- Finished work: succeeded, dead or cancelled. Rows arrive here in the statement that
-- finishes them and leave when "prune" judges them old enough.
create table pgtask.task_history (
  id              bigint primary key,
  queue           text not null,
  task_type       text not null,
  payload         jsonb not null,
  state           pgtask.task_state not null
                  constraint history_holds_finished_work check (state in ('succeeded', 'dead', 'cancelled')),
  priority        smallint not null,
  run_at          timestamptz not null,
  attempt         integer not null,
  max_attempts    integer,
  idempotency_key text,
  target_url      text,
  worker_id       text,           -- the worker that held the last attempt, if any
  created_at      timestamptz not null,
  started_at      timestamptz,
  attempted_at    timestamptz,
  finished_at     timestamptz not null,
  errors          jsonb not null,
  result          jsonb,          -- what the handler returned (succeeded only)
  message         text,           -- why it ended: the last error, or the cancel reason
  parent_id       bigint,         -- chain links, as in "tasks"
  group_id        bigint,
  on_success      jsonb,
  on_failure      jsonb,
  -- The transaction that finished the task: its place in the done-task stream (follow_done).
  finished_xid    xid8 not null default pg_current_xact_id(),
  constraint only_success_has_a_result check (result is null or state = 'succeeded')
);

-- An idempotency key names one task per queue for as long as that task is retained.
create table pgtask.idempotency_keys (
  queue      text not null,
  key        text not null,
  task_id    bigint not null,
  created_at timestamptz not null default now(),
  primary key (queue, key)
);

-- Lines a handler logged while it ran, shown by "pgtask show".
create table pgtask.task_logs (
  task_id bigint not null,
  attempt integer not null,
  at      timestamptz not null,
  level   text not null,
  message text not null
);

-- One row per HTTP attempt of a task: what the target answered, for "pgtask show".
create table pgtask.http_attempts (
  task_id    bigint not null,
  attempt    integer not null,
  at         timestamptz not null,    -- when the request went out
  status     integer,                 -- null: no answer (timeout, connection error, refused)
  latency_ms double precision not null,
  reason     text,                    -- e.g. 'http 503', 'timeout'
  response   text                     -- the start of the response body
);

-- One row per live worker process; it heartbeats, and rescue_tasks prunes the silent ones.
create table pgtask.workers (
  id           text primary key,
  host         text not null,
  pid          integer not null,
  queues       text[],          -- null: every queue
  task_types   text[],          -- null: every type
  concurrency  integer not null,
  in_flight    integer not null default 0,
  started_at   timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  -- True while the worker has free slots and sleeps until NOTIFY (or its poll) wakes it.
  -- The insert trigger notifies only queues that such a worker serves: a busy worker
  -- claims again by itself as slots free up, so waking it would be wasted work.
  waiting      boolean not null default false
);

-- A task type as the workers that run it declared it (@pgtask.task(...)), upserted by each
-- worker when it starts. An enqueue that gives no queue, priority or max_attempts of its
-- own takes these; explicit values win. Enqueueing a type with no row here is accepted
-- (its workers may deploy later); top, stats and the dashboard flag it.
create table pgtask.task_types (
  name          text primary key
                constraint task_type_is_valid check (name ~ '^[a-z0-9][a-z0-9_.:-]*$' and length(name) <= 128),
  queue         text not null default 'default'
                constraint queue_name_is_valid check (queue ~ '^[a-z0-9][a-z0-9_.:-]*$' and length(queue) <= 128),
  priority      smallint not null default 0
                constraint priority_in_range check (priority between -1000 and 1000),
  -- null: the queue's max_attempts, read when the task fails.
  max_attempts  integer constraint max_attempts_in_range check (max_attempts between 1 and 1000),
  -- The worker cancels and fails a run after this long; null: no limit of the type's own.
  timeout       interval constraint timeout_is_positive check (timeout > '0'),
  title         text not null default '' constraint title_length check (length(title) <= 200),
  description   text not null default ''
                constraint description_length check (length(description) <= 4000),
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  -- The latest worker start-up that declared this type, and that worker.
  last_seen_at  timestamptz not null default now(),
  last_worker   text
);

-- Fan-in: a group of tasks whose follow-up runs once, when the last member has finished
-- (succeeded, dead or cancelled). Members carry group_id; the statement that finishes a
-- member counts it here under the group row's lock, so concurrent finishes count exactly.
create table pgtask.groups (
  id            bigint generated always as identity primary key,
  size          integer not null constraint group_size_not_negative check (size >= 0),
  remaining     integer not null constraint remaining_within_size check (remaining between 0 and size),
  succeeded     integer not null default 0,
  dead          integer not null default 0,
  cancelled     integer not null default 0,
  on_complete   jsonb not null,     -- follow-up task descriptions (see check_follow_ups)
  created_at    timestamptz not null default now(),
  completed_at  timestamptz,        -- when the last member finished
  follow_up_ids bigint[]            -- the tasks on_complete enqueued
);

-- A schedule enqueues one task per fire time: of a cron expression (5 fields, or @hourly,
-- @daily, @weekly, @monthly, @yearly) read in time_zone, or of a fixed interval counted
-- from anchor_at. The scheduler (pgtask.schedules) does the calendar arithmetic; the
-- database makes each fire time enqueue exactly once (schedule_fires).
create table pgtask.schedules (
  name         text primary key
               constraint schedule_name_is_valid check (name ~ '^[a-z0-9][a-z0-9_.:-]*$' and length(name) <= 128),
  cron         text constraint cron_has_five_fields
               check (cron ~ '^\s*(@[a-z]+|\S+(\s+\S+){4})\s*$'),
  every        interval constraint every_is_positive check (every > '0'),
  time_zone    text not null default 'UTC',
  task_type    text not null
               constraint task_type_is_valid check (task_type ~ '^[a-z0-9][a-z0-9_.:-]*$' and length(task_type) <= 128),
  payload      jsonb not null default '{}'
               constraint payload_is_an_object check (jsonb_typeof(payload) = 'object'),
  queue        text not null default 'default'
               constraint queue_name_is_valid check (queue ~ '^[a-z0-9][a-z0-9_.:-]*$' and length(queue) <= 128),
  priority     smallint not null default 0
               constraint priority_in_range check (priority between -1000 and 1000),
  max_attempts integer constraint max_attempts_in_range check (max_attempts between 1 and 1000),
  enabled      boolean not null default true,
  -- A fire time found more than "grace" late was missed (no scheduler ran then): of those,
  -- only the latest catch_up are enqueued (0 skips them all). Fire times less late than
  -- that are merely late (a slow tick, a leader handover) and are all enqueued.
  catch_up     integer not null default 0 constraint catch_up_in_range check (catch_up between 0 and 1000),
  grace        interval not null default '1 minute' constraint grace_not_negative check (grace >= '0'),
  anchor_at    timestamptz not null default now(),  -- "every" fires at anchor_at + k * every, k >= 1
  next_fire_at timestamptz,  -- the next fire time to enqueue; null: the first after updated_at
  last_fire_at timestamptz,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),  -- timing changed or re-enabled
  constraint cron_or_every check ((cron is null) <> (every is null))
);

-- (schedule, fire time) -> the task it enqueued. The primary key is what makes a fire time
-- enqueue exactly once, whichever scheduler gets there first and however often it retries.
create table pgtask.schedule_fires (
  schedule text not null references pgtask.schedules (name) on delete cascade,
  fire_at  timestamptz not null,
  task_id  bigint not null,
  fired_at timestamptz not null default now(),
  primary key (schedule, fire_at)
);

-------------------------------------------------------------------------------------------
-- Indexes
-------------------------------------------------------------------------------------------

-- The claim walks this index in claim order and stops after "batch" rows. Partial, so it
-- holds queued rows only. Measured (EXPLAIN in tests/sql/test_plan.py): with 100,000 rows in
-- history and 1,000 queued, a claim of 10 is an index scan touching ~10 rows.
create index tasks_claim_order on pgtask.tasks (priority desc, run_at, id) where state = 'queued';
-- A second claim path for queues with limits: one queue at a time, same order.
create index tasks_queue_claim_order on pgtask.tasks (queue, priority desc, run_at, id)
  where state = 'queued';
-- Running tasks by lease expiry: finds lost leases, counts a queue's running tasks.
create index tasks_leases on pgtask.tasks (lease_expires_at) where state = 'running';
create index tasks_running_by_queue on pgtask.tasks (queue) where state = 'running';

create index task_history_finished_at on pgtask.task_history (finished_at);
create index task_history_state on pgtask.task_history (state, id);
-- "Dead in the last hour" for pgtask top: dead tasks are few, so this partial index is small
-- and the count is a short range scan however much history there is.
create index task_history_dead on pgtask.task_history (finished_at) where state = 'dead';
-- The errors list ("pgtask errors"): finished tasks that failed at least once, newest first.
create index task_history_errored on pgtask.task_history (id) where errors <> '[]';
create index task_logs_task on pgtask.task_logs (task_id, at);
create index http_attempts_task on pgtask.http_attempts (task_id, attempt);

-- The done-task stream reads history in (finishing transaction, id) order: follow_done.
create index task_history_stream on pgtask.task_history (finished_xid, id);
-- Chain links (a task's follow-ups, a group's members); only chained rows are indexed.
create index tasks_parent on pgtask.tasks (parent_id) where parent_id is not null;
create index task_history_parent on pgtask.task_history (parent_id) where parent_id is not null;
create index task_history_group on pgtask.task_history (group_id) where group_id is not null;
create index schedule_fires_fire_at on pgtask.schedule_fires (fire_at);
-- Completed groups, oldest first, for prune_batch (one group row per enqueue_group: a busy
-- fan-in leaves many); open groups are not indexed.
create index groups_completed_at on pgtask.groups (completed_at) where completed_at is not null;

-------------------------------------------------------------------------------------------
-- Functions
-------------------------------------------------------------------------------------------

-- Tell me what time it is: the database's own, unless a test backdates this call.
-- Only the schema's owner (and members of pgtask_owner, who may change the tables anyway)
-- may pass "now": a worker that could would take every live lease (rescue_tasks with
-- 'infinity') or wipe history (prune with now => 'infinity'), and an application could
-- enqueue tasks no reader can load. The caller is the role that called the SECURITY DEFINER
-- function: its SET ROLE if any, else the session's login role.
-- No "set search_path" (everything is schema-qualified): called once per call of a function
-- that takes "now", and the role lookups run only when one is given.
create function pgtask.clock(now timestamptz) returns timestamptz
language plpgsql stable
as $$
declare
  _caller text;
begin
  if now is null then
    return pg_catalog.now();
  end if;
  _caller := coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user);
  if pg_catalog.pg_has_role(_caller, (select n.nspowner from pg_catalog.pg_namespace n
                                        where n.nspname operator(pg_catalog.=) 'pgtask'), 'MEMBER')
     or (pg_catalog.to_regrole('pgtask_owner') is not null
         and pg_catalog.pg_has_role(_caller, 'pgtask_owner', 'MEMBER')) then
    return now;
  end if;
  raise exception 'pgtask: only the owner of schema pgtask may pass "now" (called by %)', _caller
    using errcode = 'insufficient_privilege',
          hint = 'Leave "now" out: the database''s clock is the only clock.';
end
$$;

-- Tell me whether this text may name a queue or a task type.
-- Names match ^[a-z0-9][a-z0-9_.:-]{0,127}$, written as "*" plus a length check: the
-- bounded repetition costs ~15 us a match in PostgreSQL's regex engine, the form below ~1.5 us
-- (100,000 names: 1.7 s vs 0.27 s), and every insert checks two names.
-- No "set search_path" (operators are schema-qualified instead) so it can be inlined.
create function pgtask.is_valid_name(name text) returns boolean
language sql immutable parallel safe
as $$
  select name operator(pg_catalog.~) '^[a-z0-9][a-z0-9_.:-]*$'
     and pg_catalog.length(name) operator(pg_catalog.<=) 128
$$;

-- Tell me whether this JSON nests deeper than every reader loads: more than 100 levels, as
-- MySQL counts them (Python's json gives up near 1,000; MySQL refuses more than 100). The
-- recursive path walk costs ~0.2 us for a small payload (bench/README.md).
-- No "set search_path" (schema-qualified) so it can be inlined.
create function pgtask.is_too_deep(value jsonb) returns boolean
language sql immutable parallel safe
as $$
  select pg_catalog.jsonb_path_exists(value, 'strict $.**{100}')
$$;

-- Tell me whether every reader can load and compute with this start time: from 1970-01-01
-- to 100 years from now (Python's datetime ends at the year 9999; a time zone shift of a
-- date near it overflows). Inlined, like is_too_deep.
create function pgtask.is_run_at_in_range(run_at timestamptz) returns boolean
language sql stable parallel safe
as $$
  select run_at operator(pg_catalog.>=) '1970-01-01 00:00:00+00'::pg_catalog.timestamptz
     and run_at operator(pg_catalog.<=)
         (pg_catalog.now() operator(pg_catalog.+) '100 years'::pg_catalog.interval)
$$;

-- Refuse a task that the tables would refuse, with a message that says what to fix.
-- No "set search_path": only pgtask's own functions call it, with theirs set, and the
-- clause's save and restore was ~20 us of every enqueue_task call.
create function pgtask.check_task(task_type text, payload jsonb, queue text, priority integer,
                                  max_attempts integer, target_url text) returns void
language plpgsql immutable
as $$
begin
  if task_type is null or not pgtask.is_valid_name(task_type) then
    raise exception 'pgtask: invalid task type %', coalesce(quote_literal(task_type), 'NULL')
      using errcode = 'check_violation',
            hint = 'Names match ^[a-z0-9][a-z0-9_.:-]{0,127}$, e.g. ''emails.send''.';
  end if;
  if queue is null or not pgtask.is_valid_name(queue) then
    raise exception 'pgtask: invalid queue name %', coalesce(quote_literal(queue), 'NULL')
      using errcode = 'check_violation',
            hint = 'Names match ^[a-z0-9][a-z0-9_.:-]{0,127}$, e.g. ''default''.';
  end if;
  if payload is null or jsonb_typeof(payload) <> 'object' then
    raise exception 'pgtask: payload must be a JSON object, got %',
      coalesce(jsonb_typeof(payload), 'NULL') using errcode = 'check_violation';
  end if;
  if octet_length(payload::text) > 1048576 then
    raise exception 'pgtask: payload is % bytes; the limit is 1048576 bytes (1 MiB)',
      octet_length(payload::text) using errcode = 'check_violation',
      hint = 'Store large data elsewhere and pass a reference.';
  end if;
  if pgtask.is_too_deep(payload) then
    raise exception 'pgtask: payload is nested more than 100 levels deep'
      using errcode = 'check_violation',
            hint = 'Flatten the structure, or store it elsewhere and pass a reference.';
  end if;
  if priority is null or priority not between -1000 and 1000 then
    raise exception 'pgtask: priority % is out of range (-1000 to 1000, higher runs first)',
      coalesce(priority::text, 'NULL') using errcode = 'check_violation';
  end if;
  if max_attempts is not null and max_attempts not between 1 and 1000 then
    raise exception 'pgtask: max_attempts % is out of range (1 to 1000)', max_attempts
      using errcode = 'check_violation';
  end if;
  if target_url is not null and target_url !~ '^https?://' then
    raise exception 'pgtask: target_url must start with http:// or https://'
      using errcode = 'check_violation';
  end if;
end
$$;

-- Refuse a start time that no reader could show or compute with (is_run_at_in_range).
create function pgtask.check_run_at(run_at timestamptz) returns void
language plpgsql stable
as $$
begin
  if not pgtask.is_run_at_in_range(run_at) then
    raise exception 'pgtask: run_at % is out of range (1970-01-01 to 100 years from now)', run_at
      using errcode = 'datetime_field_overflow';
  end if;
end
$$;

-- Put a task on a queue and give me its id. Called inside the application's own
-- transaction, the task exists exactly when that transaction commits. With an idempotency
-- key, a second call for the same (queue, key) returns the first task's id instead.
-- "on_success" and "on_failure" name follow-up tasks (see check_follow_ups), enqueued by
-- the statement that finishes this one: after it succeeds (given its result), or when it
-- ends dead (given its error). A null queue, priority or max_attempts takes the task
-- type's (pgtask.task_types), then 'default', 0 and the queue's. "trace_context" is the
-- enqueuer's trace (W3C traceparent and tracestate, an object of strings), which the
-- worker's span continues; the tasks table caps it (trace_context_is_small_object).
create function pgtask.enqueue_task(
  task_type       text,
  payload         jsonb default '{}',
  queue           text default null,
  run_at          timestamptz default null,
  priority        integer default null,
  idempotency_key text default null,
  max_attempts    integer default null,
  target_url      text default null,
  on_success      jsonb default null,
  on_failure      jsonb default null,
  trace_context   jsonb default null
) returns bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _id         bigint := nextval('pgtask.task_id_seq');
  _on_success jsonb;
  _on_failure jsonb;
  _queue      text;
  _priority   integer;
  _attempts   integer;
begin
  if queue is null or priority is null or max_attempts is null then
    -- One primary-key probe; a type no worker declared finds nothing and keeps the defaults.
    select t.queue, t.priority, t.max_attempts into _queue, _priority, _attempts
      from pgtask.task_types t where t.name = enqueue_task.task_type;
    queue := coalesce(queue, _queue, 'default');
    priority := coalesce(priority, _priority, 0);
    max_attempts := coalesce(max_attempts, _attempts);
  end if;
  perform pgtask.check_task(task_type, payload, queue, priority, max_attempts, target_url);
  if run_at is not null then
    perform pgtask.check_run_at(run_at);
  end if;
  if length(idempotency_key) not between 1 and 255 then
    raise exception 'pgtask: idempotency_key must be 1 to 255 characters, got %',
      length(idempotency_key) using errcode = 'check_violation';
  end if;
  if on_success is not null or on_failure is not null then
    _on_success := pgtask.check_follow_ups(on_success);
    _on_failure := pgtask.check_follow_ups(on_failure);
  end if;
  -- Nearly always the queue exists: a lookup is cheaper than an upsert that finds it
  -- (~10-30 us of a ~150 us call, pgbench one-by-one).
  if not exists (select 1 from pgtask.queues q where q.name = enqueue_task.queue) then
    insert into pgtask.queues (name) values (queue) on conflict do nothing;
  end if;

  if idempotency_key is not null then
    -- The key's primary key settles races: a concurrent caller waits here for the winner's
    -- transaction, then finds its row.
    insert into pgtask.idempotency_keys (queue, key, task_id)
    values (queue, idempotency_key, _id) on conflict do nothing;
    if not found then
      select k.task_id into _id from pgtask.idempotency_keys k
       where k.queue = enqueue_task.queue and k.key = enqueue_task.idempotency_key;
      return _id;
    end if;
  end if;

  insert into pgtask.tasks (id, queue, task_type, payload, priority, run_at,
                            idempotency_key, max_attempts, target_url, on_success, on_failure,
                            trace_context)
  values (_id, queue, task_type, payload, priority, coalesce(run_at, now()),
          idempotency_key, max_attempts, target_url, _on_success, _on_failure, trace_context);
  return _id;
end
$$;

-- Put many tasks on queues in one statement and give me their ids, in input order.
-- Arrays run in parallel; a null array (or element) takes the single-task default (for
-- queue, priority and max_attempts: the task type's, as enqueue_task).
create function pgtask.enqueue_tasks(
  task_types       text[],
  payloads         jsonb[] default null,
  queues           text[] default null,
  run_ats          timestamptz[] default null,
  priorities       integer[] default null,
  idempotency_keys text[] default null,
  max_attempts     integer[] default null,
  target_urls      text[] default null,
  on_successes     jsonb[] default null,
  on_failures      jsonb[] default null,
  trace_contexts   jsonb[] default null
) returns setof bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _n   integer := coalesce(cardinality(task_types), 0);
  _ids bigint[];
  _bad record;
  _bad_names text[];
  _i   integer;
begin
  if _n = 0 then return; end if;
  if (payloads is not null and cardinality(payloads) <> _n)
     or (queues is not null and cardinality(queues) <> _n)
     or (run_ats is not null and cardinality(run_ats) <> _n)
     or (priorities is not null and cardinality(priorities) <> _n)
     or (idempotency_keys is not null and cardinality(idempotency_keys) <> _n)
     or (max_attempts is not null and cardinality(max_attempts) <> _n)
     or (target_urls is not null and cardinality(target_urls) <> _n)
     or (on_successes is not null and cardinality(on_successes) <> _n)
     or (on_failures is not null and cardinality(on_failures) <> _n)
     or (trace_contexts is not null and cardinality(trace_contexts) <> _n) then
    raise exception 'pgtask: enqueue_tasks arrays must all have % elements (one per task)', _n
      using errcode = 'invalid_parameter_value';
  end if;

  -- No temporary table here: a caller's own temp table (with its own trigger) would run
  -- code as this function's owner. Arrays only.
  _ids := array(select nextval('pgtask.task_id_seq') from generate_series(1, _n));

  -- Validate the cheap way first; on a bad row, let check_task name the problem. Names
  -- once per distinct value (a bulk enqueue names a handful of types and queues), the rest
  -- per row.
  _bad_names := array(
    select n from (select unnest(task_types) union select unnest(queues)) s(n)
     where not pgtask.is_valid_name(n));
  for _bad in
    select * from unnest(task_types, payloads, queues, priorities, max_attempts, target_urls,
                         run_ats)
                  with ordinality as i(task_type, payload, queue, priority, max_attempts,
                                       target_url, run_at, n)
     where i.task_type is null or i.task_type = any(_bad_names)
        or coalesce(i.queue, 'default') = any(_bad_names)
        or not coalesce(jsonb_typeof(coalesce(i.payload, '{}')) = 'object'
                        and coalesce(i.priority, 0) between -1000 and 1000
                        and coalesce(i.max_attempts between 1 and 1000, true)
                        and coalesce(i.target_url ~ '^https?://', true)
                        and octet_length(coalesce(i.payload, '{}')::text) <= 1048576
                        and not pgtask.is_too_deep(coalesce(i.payload, '{}'))
                        and coalesce(pgtask.is_run_at_in_range(i.run_at), true), false)
     order by i.n limit 1
  loop
    perform pgtask.check_task(_bad.task_type, coalesce(_bad.payload, '{}'),
                              coalesce(_bad.queue, 'default'), coalesce(_bad.priority, 0),
                              _bad.max_attempts, _bad.target_url);
    perform pgtask.check_run_at(_bad.run_at);
  end loop;

  -- What a row leaves out, its task type's definition fills (then 'default', 0 and the
  -- queue's attempts): a hash join with a small table, empty until a worker starts.
  insert into pgtask.queues (name)
  select distinct coalesce(i.queue, t.queue, 'default')
    from unnest(task_types, queues) as i(task_type, queue)
    left join pgtask.task_types t on i.queue is null and t.name = i.task_type
   order by 1 on conflict do nothing;

  -- Tasks without a key go in with one INSERT (and so one NOTIFY per queue).
  insert into pgtask.tasks (id, queue, task_type, payload, priority, run_at, max_attempts,
                            target_url, on_success, on_failure, trace_context)
  select i.id, coalesce(i.queue, t.queue, 'default'), i.task_type, coalesce(i.payload, '{}'),
         coalesce(i.priority, t.priority, 0), coalesce(i.run_at, now()),
         coalesce(i.max_attempts, t.max_attempts), i.target_url,
         case when i.on_success is not null then pgtask.check_follow_ups(i.on_success) end,
         case when i.on_failure is not null then pgtask.check_follow_ups(i.on_failure) end,
         i.trace_context
    from unnest(_ids, task_types, payloads, queues, run_ats, priorities, max_attempts,
                target_urls, idempotency_keys, on_successes, on_failures, trace_contexts)
         with ordinality as i(id, task_type, payload, queue, run_at, priority, max_attempts,
                              target_url, idempotency_key, on_success, on_failure,
                              trace_context, n)
    left join pgtask.task_types t on t.name = i.task_type
   where i.idempotency_key is null
   order by i.n;

  -- Tasks with a key take the single-task path, which settles races on the key.
  if idempotency_keys is not null then
    for _i in 1 .. _n loop
      continue when idempotency_keys[_i] is null;
      _ids[_i] := pgtask.enqueue_task(
        task_types[_i], coalesce(payloads[_i], '{}'), queues[_i],
        run_ats[_i], priorities[_i], idempotency_keys[_i], max_attempts[_i],
        target_urls[_i], on_successes[_i], on_failures[_i], trace_contexts[_i]);
    end loop;
  end if;

  return query select unnest(_ids);
end
$$;

-- How long to wait before attempt number "attempt + 1", after attempt "attempt" failed:
-- min_backoff doubled (attempt - 1) times, at most max_doublings times, capped at
-- max_backoff, then spread by +/- jitter/2. "noise" in [0, 1) picks the point in the
-- spread; tests pass 0.5 for the exact middle. Computed in seconds (double precision):
-- an interval overflows near 2^43 seconds, which 60 doublings of even 1 second exceed.
create function pgtask.backoff(attempt integer, min_backoff interval, max_backoff interval,
                               max_doublings integer, jitter double precision,
                               noise double precision default random()) returns interval
language sql volatile parallel safe
set search_path = pgtask, pg_catalog, pg_temp
as $$
  select make_interval(secs => least(cap,
           least(cap, base * power(2, least(greatest(attempt - 1, 0), max_doublings)))
           * (1 + jitter * (noise - 0.5))))
    from (select extract(epoch from min_backoff)::float8 as base,
                 extract(epoch from max_backoff)::float8 as cap) s
$$;

-- Move the tasks whose lease ran out back to the queue (or to "dead" when that was their
-- last attempt: a task that kills its worker every time must still run out of attempts).
-- Also forget workers presumed dead (see the delete below), and give a queue row to any
-- queue that queued tasks name without one. Returns how many tasks moved.
create function pgtask.rescue_tasks(now timestamptz default null) returns integer
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _now   timestamptz := pgtask.clock(rescue_tasks.now);
  _moved integer;
begin
  with note as materialized (
    select t.id, t.attempt >= coalesce(t.max_attempts, q.max_attempts) as exhausted,
           jsonb_build_object('attempt', t.attempt, 'at', _now, 'worker_id', t.worker_id,
             'error', 'lease expired: the worker stopped heartbeating (crashed or lost)') as entry
      from pgtask.tasks t join pgtask.queues q on q.name = t.queue
     where t.state = 'running' and t.lease_expires_at < _now
       for update of t skip locked
  ), buried as (
    delete from pgtask.tasks t using note n where t.id = n.id and n.exhausted returning t.*
  ), archived as (
    insert into pgtask.task_history (id, queue, task_type, payload, state, priority, run_at,
      attempt, max_attempts, idempotency_key, target_url, worker_id, created_at, started_at,
      attempted_at, finished_at, errors, message, parent_id, group_id, on_success, on_failure)
    select b.id, b.queue, b.task_type, b.payload, 'dead', b.priority, b.run_at, b.attempt,
           b.max_attempts, b.idempotency_key, b.target_url, b.worker_id, b.created_at,
           b.started_at, b.attempted_at, _now, b.errors || n.entry, n.entry->>'error',
           b.parent_id, b.group_id, b.on_success, b.on_failure
      from buried b join note n on n.id = b.id
     order by b.group_id  -- group rows are then locked in one order (see task_finished)
    returning 1
  ), requeued as (
    update pgtask.tasks t
       set state = 'queued', run_at = _now, lease_token = null, lease_expires_at = null,
           worker_id = null, errors = t.errors || n.entry
      from note n where t.id = n.id and not n.exhausted
    returning 1
  )
  select (select count(*) from archived) + (select count(*) from requeued) into _moved;

  -- A worker that has not heartbeated for three of the longest leases (a minute at least)
  -- is presumed dead and forgotten. A live one heartbeats at least every 20 s and renews
  -- every third of its shortest lease, so only one that cannot reach the database at all
  -- stays silent that long; by then every lease it held has run out too.
  delete from pgtask.workers w
   where w.heartbeat_at < _now - greatest(interval '1 minute',
                                          3 * (select max(q.lease) from pgtask.queues q));

  -- A raw "INSERT INTO pgtask.tasks" that names its queue and priority skips the
  -- tasks_apply_task_type trigger, so its queue may have no row, and claims (which read
  -- each queue's policy) pass it by: create the row here, within one maintenance interval.
  -- A skip scan of tasks_queue_claim_order, one probe per distinct queue, not a read of
  -- every queued task.
  with recursive named (queue) as (
    (select t.queue from pgtask.tasks t where t.state = 'queued' order by t.queue limit 1)
    union all
    select (select t.queue from pgtask.tasks t
             where t.state = 'queued' and t.queue > n.queue order by t.queue limit 1)
      from named n where n.queue is not null
  )
  insert into pgtask.queues (name)
  select n.queue from named n
   where n.queue is not null
     and not exists (select 1 from pgtask.queues q where q.name = n.queue)
  on conflict do nothing;
  return _moved;
end
$$;

-- Find me up to "batch" tasks to do, and give me a lease on them.
-- Claims honour priority (higher first), then run_at, then id; skip paused queues; take
-- only the task types the worker knows (null: any); and respect each queue's global
-- concurrency and rate limits, which every worker sees the same way because they are
-- checked under the queue row's lock. Each claim counts an attempt and issues a new lease
-- token, which every later call about the task must present.
create function pgtask.claim_task(
  queues     text[],
  worker_id  text,
  batch      integer default 1,
  task_types text[] default null,
  now        timestamptz default null,
  -- Also claim tasks bound for an HTTP target (their own target_url or their queue's),
  -- whatever their type: a worker that dispatches HTTP targets needs no handler for them.
  with_targets boolean default false
) returns setof pgtask.tasks
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
-- Plans made once per session: every shape below is index-driven whatever the
-- statistics say, and planning on each call (custom plans) cost a claim of one
-- task ~200 us of its ~700 (bench/README.md, Findings).
set plan_cache_mode = force_generic_plan
as $$
declare
  _now      timestamptz := pgtask.clock(claim_task.now);
  _wanted   integer := batch;
  _q        pgtask.queues;
  _room     integer;
  _tokens   double precision;
  _taken    integer;
  _open     text[];
  _closed   text[] := '{}';
  _targeted text[];  -- open queues that have a target URL
  _ids      bigint[];
begin
  if batch is null or batch not between 1 and 10000 then
    raise exception 'pgtask: batch must be between 1 and 10000, got %', coalesce(batch::text, 'NULL')
      using errcode = 'invalid_parameter_value';
  end if;
  if worker_id is null or worker_id = '' then
    raise exception 'pgtask: claim_task needs a worker_id' using errcode = 'invalid_parameter_value';
  end if;

  -- Leases that ran out make their tasks claimable again: a probe of a small partial index.
  if exists (select 1 from pgtask.tasks t where t.state = 'running' and t.lease_expires_at < _now) then
    perform pgtask.rescue_tasks(_now);
  end if;

  -- Queues with limits, one at a time under the queue row's lock. A queue another claimer
  -- holds is skipped: that claimer is filling it.
  for _q in
    select * from pgtask.queues q
     where (claim_task.queues is null or q.name = any(claim_task.queues)) and not q.paused
       and (q.concurrency_limit is not null or q.rate_limit is not null)
     order by q.name for update skip locked
  loop
    exit when _wanted <= 0;
    _room := _wanted;
    if _q.concurrency_limit is not null then
      _room := least(_room, _q.concurrency_limit - (
        select count(*) from pgtask.tasks t where t.queue = _q.name and t.state = 'running')::integer);
    end if;
    if _q.rate_limit is not null then
      _tokens := least(_q.rate_burst::double precision,
                       _q.rate_tokens + _q.rate_limit
                         * greatest(0, extract(epoch from _now - _q.rate_updated_at)));
      _room := least(_room, floor(_tokens)::integer);
    end if;
    _taken := 0;
    if _room > 0 then
      _ids := array(
        select t.id from pgtask.tasks t
         where t.state = 'queued' and t.queue = _q.name and t.run_at <= _now
           and (task_types is null or t.task_type = any(task_types)
                or (with_targets and (t.target_url is not null or _q.target_url is not null)))
         order by t.priority desc, t.run_at, t.id
         limit _room
         for update skip locked);
      return query
      with claimed as (
        update pgtask.tasks t
           set state = 'running', attempt = t.attempt + 1, lease_token = gen_random_uuid(),
               lease_expires_at = _now + _q.lease, worker_id = claim_task.worker_id,
               started_at = coalesce(t.started_at, _now), attempted_at = _now
         where t.id = any(_ids)
        returning t.*
      )
      select * from claimed c order by c.priority desc, c.run_at, c.id;
      get diagnostics _taken = row_count;
      _wanted := _wanted - _taken;
    end if;
    if _q.rate_limit is not null then
      -- Never move the bucket's clock back: a claimer whose transaction began a moment
      -- earlier must not earn the same seconds of tokens twice.
      update pgtask.queues q set rate_tokens = _tokens - _taken,
                                 rate_updated_at = greatest(q.rate_updated_at, _now)
       where q.name = _q.name;
    end if;
  end loop;

  if _wanted <= 0 then return; end if;

  -- Queues without limits: one walk of the claim-order index.
  _open := array(
    select q.name from pgtask.queues q
     where (claim_task.queues is null or q.name = any(claim_task.queues)) and not q.paused
       and q.concurrency_limit is null and q.rate_limit is null);
  if cardinality(_open) = 0 then return; end if;
  if claim_task.queues is null then
    _closed := array(select q.name from pgtask.queues q
                      where q.paused or q.concurrency_limit is not null or q.rate_limit is not null);
  end if;
  if with_targets then
    _targeted := array(select q.name from pgtask.queues q
                        where q.name = any(_open) and q.target_url is not null);
  end if;

  -- Pick, then update by primary key: joining the update to a CTE of picked ids let a
  -- generic plan hash the whole table (a sequential scan of 20,000 rows a claim of 100).
  _ids := array(
    select t.id from pgtask.tasks t
     where t.state = 'queued' and t.run_at <= _now
       -- A CASE, not "t.queue = any(_open)": that form is indexable on queue, and the
       -- planner then reads a queue's whole backlog through tasks_queue_claim_order and
       -- sorts it (21.9 ms a claim of 10 with 20,000 queued, stale statistics right after
       -- a burst). Written like this only tasks_claim_order fits, walked in claim order
       -- until "batch" rows match: 3.4 ms. (bench/README.md, Findings)
       and case when claim_task.queues is null then t.queue <> all(_closed)
                else t.queue = any(_open) end
       and (task_types is null or t.task_type = any(task_types)
            or (with_targets and (t.target_url is not null or t.queue = any(_targeted))))
     order by t.priority desc, t.run_at, t.id
     limit _wanted
     for update skip locked);
  if cardinality(_ids) = 0 then return; end if;
  return query
  with claimed as (
    update pgtask.tasks t
       set state = 'running', attempt = t.attempt + 1, lease_token = gen_random_uuid(),
           lease_expires_at = _now + q.lease, worker_id = claim_task.worker_id,
           started_at = coalesce(t.started_at, _now), attempted_at = _now
      from pgtask.queues q
     where t.id = any(_ids) and q.name = t.queue
    returning t.*
  )
  select * from claimed c order by c.priority desc, c.run_at, c.id;
end
$$;

-- Tell me how long until a claim could take more, when what holds ready work back is a
-- queue's limit (asked after a claim that came back short): seconds until the next rate
-- token of a rate-limited queue with ready work and a free slot (null: none), and whether
-- a queue with ready work has all its concurrency slots taken (finish_tasks then sends
-- NOTIFY when one frees); and whether any of these queues has a limit at all. Same
-- filters as claim_task: a worker turned away by a rate limit sleeps until its next token
-- instead of a whole poll interval.
create function pgtask.claim_wait(queues text[], task_types text[] default null,
                                  with_targets boolean default false,
                                  now timestamptz default null)
returns table (next_token_in double precision, slots_full boolean, limited boolean)
language sql stable security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  select min(case when b.tokens >= 1 then 0 else (1 - b.tokens) / q.rate_limit end),
         coalesce(bool_or(s.full), false),
         -- Whether any of these queues has a limit at all, ready work or not: a worker told
         -- "none" skips this question for a while (worker/wakeup.py, LIMITS_RECHECK).
         exists (select 1 from pgtask.queues l
                  where (claim_wait.queues is null or l.name = any(claim_wait.queues))
                    and (l.concurrency_limit is not null or l.rate_limit is not null))
    from (select pgtask.clock(claim_wait.now) as at) c
    join pgtask.queues q
      on (claim_wait.queues is null or q.name = any(claim_wait.queues)) and not q.paused
     and (q.concurrency_limit is not null or q.rate_limit is not null)
    cross join lateral (
      select case when q.concurrency_limit is not null then
               (select count(*) from pgtask.tasks r
                 where r.queue = q.name and r.state = 'running') >= q.concurrency_limit
             end as full) s
    -- A queue's tokens: none to wait for without a rate limit (least() would skip the null
    -- and give the burst, "a token now"), nor while its slots are full (what it waits for
    -- is a slot: a worker told "a token now" would claim again at once, in a busy loop).
    cross join lateral (
      select case when q.rate_limit is not null and s.full is not true then
               least(q.rate_burst::double precision, q.rate_tokens + q.rate_limit
                     * greatest(0, extract(epoch from c.at - q.rate_updated_at))) end as tokens) b
   where exists (
     select 1 from pgtask.tasks t
      where t.state = 'queued' and t.queue = q.name and t.run_at <= c.at
        and (task_types is null or t.task_type = any(task_types)
             or (with_targets and (t.target_url is not null or q.target_url is not null))))
$$;

-- Record what became of the tasks I hold, all in one statement, and tell me which ones
-- were still mine. Each outcome is one of:
--   succeeded  the task is done; "result" is kept.
--   failed     it raised "error"; retry after "delay" (or the queue's backoff), or make it
--              dead when that was the last attempt.
--   dead       a permanent failure: no more attempts.
--   snoozed    run again after "delay" without spending an attempt.
--   released   put back untouched (graceful shutdown): the attempt is refunded.
--   cancelled  the handler gave up on it for good (pgtask.Cancel): it ends cancelled with
--              "error" as the reason, like cancel_task, and its chain stops there.
-- A task whose lease token no longer matches (it was rescued, cancelled, or claimed again)
-- is left alone and missing from the answer: its late result is discarded.
create function pgtask.finish_tasks(
  ids      bigint[],
  tokens   uuid[],
  outcomes text[],
  results  jsonb[] default null,
  errors   text[] default null,
  delays   interval[] default null,
  now      timestamptz default null
) returns table (id bigint, state pgtask.task_state)
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
-- Plans made once per session: every shape below is index-driven whatever the
-- statistics say, and planning on each call (custom plans) cost a claim of one
-- task ~200 us of its ~700 (bench/README.md, Findings).
set plan_cache_mode = force_generic_plan
as $$
declare
  _now timestamptz := pgtask.clock(finish_tasks.now);
  _n   integer := coalesce(cardinality(ids), 0);
begin
  if _n = 0 then return; end if;
  if cardinality(tokens) <> _n or cardinality(outcomes) <> _n
     or (results is not null and cardinality(results) <> _n)
     or (errors is not null and cardinality(errors) <> _n)
     or (delays is not null and cardinality(delays) <> _n) then
    raise exception 'pgtask: finish_tasks arrays must all have % elements', _n
      using errcode = 'invalid_parameter_value';
  end if;
  if exists (select 1 from unnest(outcomes) o
              where o is null or o not in ('succeeded', 'failed', 'dead', 'snoozed', 'released',
                                           'cancelled')) then
    raise exception 'pgtask: outcomes must be succeeded, failed, dead, snoozed, released or cancelled'
      using errcode = 'invalid_parameter_value';
  end if;

  -- Slots these outcomes free in a queue with a concurrency limit: wake the workers waiting
  -- on it (a worker turned away by the limit sleeps until this, not its poll). Two probes
  -- of small tables first, so a finish costs nothing more when no queue has a limit or no
  -- worker waits; then one primary-key probe per task, by (id, token) like the statement
  -- below, so a late outcome for a task rescued or claimed again wakes nobody. Sent before
  -- that statement, the notifications are delivered at commit all the same (and dropped
  -- with it should it fail); one per queue (Postgres folds repeats in a transaction).
  if exists (select 1 from pgtask.queues q where q.concurrency_limit is not null)
     and exists (select 1 from pgtask.workers w where w.waiting) then
    perform pg_notify('pgtask', f.queue)
       from (select distinct t.queue from unnest(ids, tokens) as i(id, token)
               join pgtask.tasks t on t.id = i.id and t.lease_token = i.token) f
       join pgtask.queues q on q.name = f.queue and q.concurrency_limit is not null
      where exists (select 1 from pgtask.workers w
                     where w.waiting and (w.queues is null or f.queue = any(w.queues)));
  end if;

  return query
  with input as (
    -- One outcome per task: should a batch name a task twice, its first outcome wins
    -- (two would archive it twice, failing the whole batch).
    select distinct on (i.id) i.*
      from unnest(ids, tokens, outcomes,
                  coalesce(results, array_fill(null::jsonb, array[_n])),
                  coalesce(errors, array_fill(null::text, array[_n])),
                  coalesce(delays, array_fill(null::interval, array[_n])))
           with ordinality as i(id, token, outcome, result, error, delay, n)
     order by i.id, i.n
  ), held as materialized (
    -- Locking re-checks the token against the latest row version: a task rescued or
    -- cancelled meanwhile drops out here.
    select t.id, t.attempt, i.outcome, i.result, i.error, i.delay,
           case
             when i.outcome = 'succeeded' then 'succeeded'
             when i.outcome = 'dead' then 'dead'
             when i.outcome = 'cancelled' then 'cancelled'
             when i.outcome = 'failed'
                  and t.attempt >= coalesce(t.max_attempts, q.max_attempts) then 'dead'
             else 'queued'
           end::pgtask.task_state as next_state,
           case
             when i.outcome in ('snoozed', 'released') then coalesce(i.delay, '0')
             when i.outcome = 'failed' then coalesce(i.delay, pgtask.backoff(
               t.attempt, q.min_backoff, q.max_backoff, q.max_doublings, q.backoff_jitter))
           end as wait,
           case when i.outcome in ('failed', 'dead') then jsonb_build_object(
             'attempt', t.attempt, 'at', _now, 'worker_id', t.worker_id,
             'error', coalesce(i.error, 'failed')) end as entry
      from input i
      -- A lateral probe of the primary key per outcome: a locking subquery is never
      -- flattened, so no plan can turn this into a scan of every running task joined
      -- against every outcome (the plan stale statistics chose: 100 x 100 comparisons a
      -- flush of 100). The token alone implies running (running_iff_leased).
      cross join lateral (
        select t.* from pgtask.tasks t
         where t.id = i.id and t.lease_token = i.token
           for update
      ) t
      join pgtask.queues q on q.name = t.queue
  ), finished as (
    delete from pgtask.tasks t using held h
     where t.id = h.id and h.next_state <> 'queued'
    returning t.*, h.next_state, h.result as outcome_result, h.entry, h.error as reason
  ), archived as (
    insert into pgtask.task_history (id, queue, task_type, payload, state, priority, run_at,
      attempt, max_attempts, idempotency_key, target_url, worker_id, created_at, started_at,
      attempted_at, finished_at, errors, result, message, parent_id, group_id, on_success,
      on_failure)
    select f.id, f.queue, f.task_type, f.payload, f.next_state, f.priority, f.run_at,
           f.attempt, f.max_attempts, f.idempotency_key, f.target_url, f.worker_id,
           f.created_at, f.started_at, f.attempted_at, _now,
           case when f.entry is null then f.errors else f.errors || f.entry end,
           case when f.next_state = 'succeeded' then f.outcome_result end,
           -- A cancel's reason is its message, with no entry in errors (as cancel_task).
           case when f.next_state = 'cancelled' then coalesce(f.reason, 'cancelled')
                else f.entry->>'error' end,
           f.parent_id, f.group_id, f.on_success, f.on_failure
      from finished f
     order by f.group_id  -- group rows are then locked in one order (see task_finished)
    returning task_history.id, task_history.state
  ), requeued as (
    update pgtask.tasks t
       -- A handler may ask for any delay (a Retry computed from its payload): past 100
       -- years it is 100 years, which no reader mistakes for an overflow.
       set state = 'queued', run_at = _now + least(h.wait, interval '100 years'),
           lease_token = null,
           lease_expires_at = null, worker_id = null,
           attempt = case when h.outcome in ('snoozed', 'released') then t.attempt - 1
                          else t.attempt end,
           errors = case when h.entry is null then t.errors else t.errors || h.entry end
      from held h
     where t.id = h.id and h.next_state = 'queued'
    returning t.id, t.state
  )
  select x.id, x.state from (select a.id, a.state from archived a
                             union all select r.id, r.state from requeued r) x
   order by x.id;
end
$$;

-- Mark the task I hold as done, keeping its result. False: the lease was no longer mine.
create function pgtask.complete_task(id bigint, lease_token uuid, result jsonb default null,
                                     now timestamptz default null) returns boolean
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  select exists (select 1 from pgtask.finish_tasks(array[id], array[lease_token],
                                                   array['succeeded'], array[result],
                                                   null, null, now))
$$;

-- Mark many tasks I hold as done; returns the ids that were still mine.
create function pgtask.complete_tasks(ids bigint[], lease_tokens uuid[],
                                      results jsonb[] default null,
                                      now timestamptz default null) returns setof bigint
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  select f.id from pgtask.finish_tasks(ids, lease_tokens,
                                       array_fill('succeeded'::text, array[cardinality(ids)]),
                                       results, null, null, now) f
$$;

-- Record that the task I hold failed: retry it after "retry_after" (or the queue's
-- backoff), or make it dead when "permanent" or out of attempts. False: not my lease.
create function pgtask.fail_task(id bigint, lease_token uuid, error text,
                                 retry_after interval default null,
                                 permanent boolean default false,
                                 now timestamptz default null) returns boolean
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  select exists (select 1 from pgtask.finish_tasks(
    array[id], array[lease_token],
    array[case when permanent then 'dead' else 'failed' end],
    null, array[error], array[retry_after], now))
$$;

-- Record many failures at once; returns the ids that were still mine.
create function pgtask.fail_tasks(ids bigint[], lease_tokens uuid[], errors text[],
                                  retry_afters interval[] default null,
                                  permanents boolean[] default null,
                                  now timestamptz default null) returns setof bigint
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  select f.id from pgtask.finish_tasks(
    ids, lease_tokens,
    array(select case when p then 'dead' else 'failed' end
            from unnest(coalesce(permanents, array_fill(false, array[cardinality(ids)])))
                 with ordinality as x(p, n) order by n),
    null, errors, retry_afters, now) f
$$;

-- I am still working on these tasks: extend their leases, and note that I am alive.
-- Returns the ids I no longer hold (rescued, cancelled or claimed by another worker), so I
-- can stop working on them. A run longer than its queue's max_run_time is failed here
-- instead of extended ("unstuck": a hung handler whose worker still heartbeats), so it too
-- comes back as no longer held.
create function pgtask.heartbeat(worker_id text, ids bigint[] default '{}',
                                 lease_tokens uuid[] default '{}',
                                 now timestamptz default null) returns setof bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _now     timestamptz := pgtask.clock(heartbeat.now);
  _overdue record;
begin
  update pgtask.workers w set heartbeat_at = _now, in_flight = coalesce(cardinality(ids), 0)
   where w.id = heartbeat.worker_id;

  -- A probe of the small queues table first: without a max_run_time anywhere, nothing more.
  if exists (select 1 from pgtask.queues q where q.max_run_time is not null) then
    select array_agg(t.id) as ids, array_agg(t.lease_token) as tokens,
           array_agg('taken away: ran longer than queue ' || t.queue || '''s max_run_time ('
                     || q.max_run_time || '); the attempt counts as failed (change it with '
                     || '"pgtask queue set ' || t.queue || ' --max-run-time")') as errors
      into _overdue
      from unnest(ids, lease_tokens) as h(id, token)
      join pgtask.tasks t on t.id = h.id and t.lease_token = h.token and t.state = 'running'
      join pgtask.queues q on q.name = t.queue
     where t.attempted_at + q.max_run_time < _now;
    if _overdue.ids is not null then
      perform pgtask.finish_tasks(_overdue.ids, _overdue.tokens,
                                  array_fill('failed'::text, array[cardinality(_overdue.ids)]),
                                  null, _overdue.errors, null, heartbeat.now);
    end if;
  end if;

  return query
  with held as (
    select * from unnest(ids, lease_tokens) as h(id, token)
  ), extended as (
    update pgtask.tasks t set lease_expires_at = _now + q.lease
      from held h, pgtask.queues q
     where t.id = h.id and t.lease_token = h.token and t.state = 'running' and q.name = t.queue
    returning t.id
  )
  select h.id from held h where h.id not in (select e.id from extended e);
end
$$;

-- Add me to the list of live workers (or refresh my row).
create function pgtask.register_worker(worker_id text, host text, pid integer, queues text[],
                                       task_types text[], concurrency integer,
                                       now timestamptz default null) returns void
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  insert into pgtask.workers (id, host, pid, queues, task_types, concurrency, started_at, heartbeat_at)
  select worker_id, host, pid, queues, task_types, concurrency, c.at, c.at
    from (select pgtask.clock(now) as at) c
  on conflict (id) do update
     set host = excluded.host, pid = excluded.pid, queues = excluded.queues,
         task_types = excluded.task_types, concurrency = excluded.concurrency,
         heartbeat_at = excluded.heartbeat_at
$$;

-- Record the task types a starting worker runs, with the options it declared for them.
-- "definitions" is a JSON array of {"name", "queue", "priority", "max_attempts",
-- "timeout_seconds", "title", "description"}; the latest worker to start wins, so a
-- deploy that changes a type's options takes effect as its first worker starts.
create function pgtask.register_task_types(worker_id text, definitions jsonb,
                                           now timestamptz default null) returns integer
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  with upserted as (
    insert into pgtask.task_types as t (name, queue, priority, max_attempts, timeout, title,
                                        description, created_at, updated_at, last_seen_at,
                                        last_worker)
    select d.name, coalesce(d.queue, 'default'), coalesce(d.priority, 0), d.max_attempts,
           make_interval(secs => d.timeout_seconds), coalesce(d.title, ''),
           coalesce(d.description, ''), c.at, c.at, c.at, worker_id
      from jsonb_to_recordset(definitions) as d(name text, queue text, priority integer,
                                                max_attempts integer,
                                                timeout_seconds double precision,
                                                title text, description text),
           (select pgtask.clock(now) as at) c
     order by d.name
    on conflict (name) do update
       set queue = excluded.queue, priority = excluded.priority,
           max_attempts = excluded.max_attempts, timeout = excluded.timeout,
           title = excluded.title, description = excluded.description,
           updated_at = case when (t.queue, t.priority, t.max_attempts, t.timeout, t.title,
                                   t.description)
                                  is distinct from (excluded.queue, excluded.priority,
                                                    excluded.max_attempts, excluded.timeout,
                                                    excluded.title, excluded.description)
                             then excluded.updated_at else t.updated_at end,
           last_seen_at = excluded.last_seen_at, last_worker = excluded.last_worker
    returning 1
  )
  select count(*)::integer from upserted
$$;

-- I am waiting for work (true) or busy (false): only waiting workers are sent NOTIFY.
create function pgtask.set_worker_waiting(worker_id text, waiting boolean) returns void
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  update pgtask.workers w set waiting = set_worker_waiting.waiting
   where w.id = set_worker_waiting.worker_id and w.waiting <> set_worker_waiting.waiting
$$;

-- Take me off the list of live workers.
create function pgtask.deregister_worker(worker_id text) returns void
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$ delete from pgtask.workers w where w.id = worker_id $$;

-- Stop this task: a queued one will never run, a running one loses its lease (its worker
-- is told on channel pgtask_cancel and stops the handler). False: it had already finished.
create function pgtask.cancel_task(id bigint, reason text default null,
                                   now timestamptz default null) returns boolean
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _now   timestamptz := pgtask.clock(cancel_task.now);
  _state pgtask.task_state;
begin
  with gone as (
    delete from pgtask.tasks t where t.id = cancel_task.id returning t.*
  ), archived as (
    insert into pgtask.task_history (id, queue, task_type, payload, state, priority, run_at,
      attempt, max_attempts, idempotency_key, target_url, worker_id, created_at, started_at,
      attempted_at, finished_at, errors, message, parent_id, group_id, on_success, on_failure)
    select g.id, g.queue, g.task_type, g.payload, 'cancelled', g.priority, g.run_at, g.attempt,
           g.max_attempts, g.idempotency_key, g.target_url, g.worker_id, g.created_at,
           g.started_at, g.attempted_at, _now, g.errors, coalesce(reason, 'cancelled'),
           g.parent_id, g.group_id, g.on_success, g.on_failure
      from gone g
    returning 1
  )
  select g.state into _state from gone g, archived;
  if _state is null then return false; end if;
  if _state = 'running' then
    perform pg_notify('pgtask_cancel', cancel_task.id::text);
  end if;
  return true;
end
$$;

-- Give a dead or cancelled task another go: it returns to its queue with fresh attempts,
-- keeping its id, key and error history. False: the task is not dead or cancelled.
create function pgtask.retry_task(id bigint, now timestamptz default null) returns boolean
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _now     timestamptz := pgtask.clock(retry_task.now);
  _revived integer;
begin
  with revived as (
    delete from pgtask.task_history h
     where h.id = retry_task.id and h.state in ('dead', 'cancelled')
    returning h.*
  ), queue_row as (
    insert into pgtask.queues (name) select r.queue from revived r on conflict do nothing
  ), requeued as (
    insert into pgtask.tasks (id, queue, task_type, payload, priority, run_at, attempt,
                              max_attempts, idempotency_key, target_url, created_at, errors,
                              parent_id, group_id, on_success, on_failure)
    select r.id, r.queue, r.task_type, r.payload, r.priority, _now, 0, r.max_attempts,
           r.idempotency_key, r.target_url, r.created_at, r.errors, r.parent_id, r.group_id,
           r.on_success, r.on_failure
      from revived r
    returning 1
  ), regrouped as (
    -- A revived member of a group still waiting is unfinished again; a group that already
    -- completed has enqueued its follow-up and is left alone.
    update pgtask.groups g
       set remaining = g.remaining + 1, dead = g.dead - (r.state = 'dead')::integer,
           cancelled = g.cancelled - (r.state = 'cancelled')::integer
      from revived r
     where g.id = r.group_id and g.completed_at is null
  )
  select count(*) into _revived from requeued;
  return _revived > 0;
end
$$;

-- Take a queued task off its queue as if it had never been enqueued: no history row, no
-- follow-ups, its idempotency key free again, its log lines and HTTP attempts gone. False:
-- there is no such task. A task that is running, finished or counted by a fan-in group is
-- refused, with what to do instead (a group waits for each member: cancel it so it counts).
create function pgtask.delete_task(id bigint) returns boolean
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _task pgtask.tasks;
begin
  select * into _task from pgtask.tasks t where t.id = delete_task.id for update;
  if not found then
    if exists (select 1 from pgtask.task_history h where h.id = delete_task.id) then
      raise exception 'pgtask: task % has finished; only a queued task can be deleted', id
        using hint = 'Finished tasks leave history when "pgtask prune" judges them old enough.';
    end if;
    return false;
  end if;
  if _task.state <> 'queued' then
    raise exception 'pgtask: task % is running; only a queued task can be deleted', id
      using hint = 'Cancel it instead ("pgtask cancel"): its handler is stopped.';
  end if;
  if _task.group_id is not null then
    raise exception 'pgtask: task % belongs to group %, which waits for it', id, _task.group_id
      using hint = 'Cancel it instead ("pgtask cancel"): the group counts it as cancelled.';
  end if;
  delete from pgtask.tasks t where t.id = _task.id;
  delete from pgtask.idempotency_keys k
   where k.queue = _task.queue and k.key = _task.idempotency_key and k.task_id = _task.id;
  delete from pgtask.task_logs l where l.task_id = _task.id;
  delete from pgtask.http_attempts a where a.task_id = _task.id;
  return true;
end
$$;

-- Change a queued task before it runs. "changes" holds any of payload, priority, run_at,
-- queue and max_attempts; run_at null means now, max_attempts null the queue's. The same
-- checks as enqueue_task apply. Gives the changed task; no row: there is no such task. A
-- task that is running or finished is refused (its run has begun: the change would come
-- too late, or half of it would).
create function pgtask.update_task(id bigint, changes jsonb, now timestamptz default null)
returns setof pgtask.tasks
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _now  timestamptz := pgtask.clock(update_task.now);
  _task pgtask.tasks;
  _new  pgtask.tasks;
  _bad  text;
begin
  if changes is null or jsonb_typeof(changes) <> 'object' or changes = '{}' then
    raise exception 'pgtask: say what to change: a JSON object of payload, priority, run_at, '
                    'queue or max_attempts' using errcode = 'check_violation';
  end if;
  select k into _bad from jsonb_object_keys(changes) k
   where k not in ('payload', 'priority', 'run_at', 'queue', 'max_attempts') limit 1;
  if _bad is not null then
    raise exception 'pgtask: % cannot be changed (only payload, priority, run_at, queue and '
                    'max_attempts can)', quote_literal(_bad) using errcode = 'check_violation';
  end if;
  select * into _task from pgtask.tasks t where t.id = update_task.id for update;
  if not found then
    if exists (select 1 from pgtask.task_history h where h.id = update_task.id) then
      raise exception 'pgtask: task % has finished; only a queued task can be updated', id;
    end if;
    return;
  end if;
  if _task.state <> 'queued' then
    raise exception 'pgtask: task % is running; only a queued task can be updated', id
      using hint = 'Cancel it, or wait for it to finish and enqueue a new one.';
  end if;
  _new := _task;
  if changes ? 'payload' then _new.payload := changes->'payload'; end if;
  if changes ? 'queue' then _new.queue := changes->>'queue'; end if;
  if changes ? 'priority' then _new.priority := (changes->>'priority')::integer; end if;
  if changes ? 'max_attempts' then _new.max_attempts := (changes->>'max_attempts')::integer; end if;
  if changes ? 'run_at' then
    _new.run_at := coalesce((changes->>'run_at')::timestamptz, _now);
    perform pgtask.check_run_at(_new.run_at);
  end if;
  perform pgtask.check_task(_new.task_type, coalesce(_new.payload, 'null'), _new.queue,
                            _new.priority, _new.max_attempts, _new.target_url);
  if _new.max_attempts < _task.attempt then
    raise exception 'pgtask: task % has used % attempts; max_attempts % would leave none',
      id, _task.attempt, _new.max_attempts using errcode = 'check_violation';
  end if;
  if _new.queue <> _task.queue then
    insert into pgtask.queues (name) values (_new.queue) on conflict do nothing;
    if _task.idempotency_key is not null then
      -- The key names one task per queue: it moves with the task, unless the new queue
      -- already has a task under that key.
      if exists (select 1 from pgtask.idempotency_keys k
                  where k.queue = _new.queue and k.key = _task.idempotency_key) then
        raise exception 'pgtask: queue % already has a task with this idempotency key',
          quote_literal(_new.queue) using errcode = 'unique_violation';
      end if;
      update pgtask.idempotency_keys k set queue = _new.queue
       where k.queue = _task.queue and k.key = _task.idempotency_key and k.task_id = _task.id;
    end if;
  end if;
  update pgtask.tasks t
     set payload = _new.payload, queue = _new.queue, priority = _new.priority,
         run_at = _new.run_at, max_attempts = _new.max_attempts
   where t.id = _task.id
  returning t.* into _new;
  -- Due now on another queue or earlier than it was: a waiting worker would otherwise only
  -- see it at its next poll (the insert trigger's NOTIFY has long been sent).
  if _new.run_at <= _now and (_new.queue <> _task.queue or _new.run_at < _task.run_at)
     and exists (select 1 from pgtask.workers w
                  where w.waiting and (w.queues is null or _new.queue = any(w.queues))) then
    perform pg_notify('pgtask', _new.queue);
  end if;
  return next _new;
end
$$;

-- Forget finished tasks older than "older_than", with their keys, logs and HTTP attempts;
-- also completed groups and schedule fire times that old, all in one statement and one
-- transaction however many there are: prune_batch below is the bounded form, which pgtask's
-- own callers use. Returns how many tasks were forgotten.
create function pgtask.prune(older_than interval default '7 days', now timestamptz default null)
returns bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _cutoff timestamptz := pgtask.clock(prune.now) - older_than;
  _count  bigint;
begin
  with old as (
    delete from pgtask.task_history h where h.finished_at < _cutoff
    returning h.id, h.queue, h.idempotency_key
  ), keys as (
    delete from pgtask.idempotency_keys k using old o
     where o.idempotency_key is not null and k.queue = o.queue and k.key = o.idempotency_key
       and k.task_id = o.id
  ), logs as (
    delete from pgtask.task_logs l using old o where l.task_id = o.id
  ), attempts as (
    delete from pgtask.http_attempts a using old o where a.task_id = o.id
  )
  select count(*) into _count from old;
  -- Old fire times lie behind every schedule's next_fire_at: nothing enqueues them again.
  delete from pgtask.schedule_fires f where f.fire_at < _cutoff;
  delete from pgtask.groups g where g.completed_at < _cutoff;
  return _count;
end
$$;

-- Forget up to batch_size of the oldest finished tasks older than "older_than", with their
-- keys, logs and HTTP attempts; also up to batch_size completed groups and as many schedule
-- fire times that old. The bounded form of prune: a caller loops, one short transaction per
-- call, until a call returns fewer than batch_size, so no prune holds the xmin horizon back
-- or writes a burst of WAL (one DELETE of 5,000,000 rows took 6 s and slowed a drain to
-- 0.64x). Oldest first, by task_history_finished_at; SKIP LOCKED lets two pruners share the
-- work instead of queueing behind each other. Returns how many tasks were forgotten.
create function pgtask.prune_batch(older_than interval default '7 days',
                                   batch_size integer default 10000,
                                   now timestamptz default null)
returns bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _cutoff timestamptz := pgtask.clock(prune_batch.now) - older_than;
  _count  bigint;
begin
  if batch_size is null or batch_size < 1 or batch_size > 1000000 then
    raise exception 'pgtask: batch_size must be between 1 and 1000000, not %',
      coalesce(batch_size::text, 'NULL')
      using errcode = 'invalid_parameter_value',
            hint = 'The default, 10000, takes ~0.1 s a call.';
  end if;
  with victims as (
    select h.id from pgtask.task_history h where h.finished_at < _cutoff
     order by h.finished_at limit batch_size for update skip locked
  ), old as (
    delete from pgtask.task_history h using victims v where h.id = v.id
    returning h.id, h.queue, h.idempotency_key
  ), keys as (
    delete from pgtask.idempotency_keys k using old o
     where o.idempotency_key is not null and k.queue = o.queue and k.key = o.idempotency_key
       and k.task_id = o.id
  ), logs as (
    delete from pgtask.task_logs l using old o where l.task_id = o.id
  ), attempts as (
    delete from pgtask.http_attempts a using old o where a.task_id = o.id
  )
  select count(*) into _count from old;
  -- Old fire times lie behind every schedule's next_fire_at: nothing enqueues them again.
  delete from pgtask.schedule_fires f using (
    select s.schedule, s.fire_at from pgtask.schedule_fires s where s.fire_at < _cutoff
     order by s.fire_at limit batch_size for update skip locked) o
   where f.schedule = o.schedule and f.fire_at = o.fire_at;
  delete from pgtask.groups g using (
    select c.id from pgtask.groups c where c.completed_at < _cutoff
     limit batch_size for update skip locked) o
   where g.id = o.id;
  return _count;
end
$$;

-- Change a queue's policy ("pgtask queue set"), creating the queue if it has no row yet.
-- "settings" names only the columns to change; a JSON null clears a nullable column. Every
-- value is checked here with a message that names the setting, before the table's own
-- constraints would refuse it less helpfully. Returns the queue as it now stands.
create function pgtask.configure_queue(name text, settings jsonb) returns pgtask.queues
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _q       pgtask.queues;
  _unknown text;
  _cleared text;
begin
  if name is null or not pgtask.is_valid_name(name) then
    raise exception 'pgtask: invalid queue name %', coalesce(quote_literal(name), 'NULL')
      using errcode = 'check_violation',
            hint = 'Names match ^[a-z0-9][a-z0-9_.:-]{0,127}$, e.g. ''default''.';
  end if;
  if settings is null or jsonb_typeof(settings) <> 'object' then
    raise exception 'pgtask: queue settings must be a JSON object' using errcode = 'invalid_parameter_value';
  end if;
  select string_agg(k, ', ' order by k) into _unknown from jsonb_object_keys(settings) k
   where k not in ('concurrency_limit', 'rate_limit', 'rate_burst', 'max_attempts', 'min_backoff',
                   'max_backoff', 'max_doublings', 'backoff_jitter', 'lease', 'target_url',
                   'dispatch_deadline', 'max_run_time');
  if _unknown is not null then
    raise exception 'pgtask: unknown queue setting(s): %', _unknown using errcode = 'invalid_parameter_value';
  end if;
  select string_agg(k, ', ' order by k) into _cleared from jsonb_each(settings) s(k, v)
   where v = 'null' and k not in ('concurrency_limit', 'rate_limit', 'target_url', 'max_run_time');
  if _cleared is not null then
    raise exception 'pgtask: % cannot be cleared (only concurrency_limit, rate_limit, target_url and max_run_time can)',
      _cleared using errcode = 'invalid_parameter_value';
  end if;

  insert into pgtask.queues (name) values (configure_queue.name) on conflict do nothing;
  select * into _q from pgtask.queues q where q.name = configure_queue.name for update;

  -- ->> gives SQL NULL for a JSON null, which is what clearing means.
  if settings ? 'concurrency_limit' then _q.concurrency_limit := (settings->>'concurrency_limit')::integer; end if;
  if settings ? 'rate_limit' then _q.rate_limit := (settings->>'rate_limit')::double precision; end if;
  if settings ? 'rate_burst' then _q.rate_burst := (settings->>'rate_burst')::integer; end if;
  if settings ? 'max_attempts' then _q.max_attempts := (settings->>'max_attempts')::integer; end if;
  if settings ? 'min_backoff' then _q.min_backoff := (settings->>'min_backoff')::interval; end if;
  if settings ? 'max_backoff' then _q.max_backoff := (settings->>'max_backoff')::interval; end if;
  if settings ? 'max_doublings' then _q.max_doublings := (settings->>'max_doublings')::integer; end if;
  if settings ? 'backoff_jitter' then _q.backoff_jitter := (settings->>'backoff_jitter')::double precision; end if;
  if settings ? 'lease' then _q.lease := (settings->>'lease')::interval; end if;
  if settings ? 'target_url' then _q.target_url := settings->>'target_url'; end if;
  if settings ? 'dispatch_deadline' then _q.dispatch_deadline := (settings->>'dispatch_deadline')::interval; end if;
  if settings ? 'max_run_time' then _q.max_run_time := (settings->>'max_run_time')::interval; end if;
  -- A rate set without a burst comes with one second's worth of tokens (at least 1): a
  -- worker that claims a moment late (a round trip, a busy host) then loses none, while an
  -- idle queue bursts at most one second of work. A burst given with the rate, or later, wins.
  if settings ? 'rate_limit' and not settings ? 'rate_burst' and _q.rate_limit > 0
     and _q.rate_limit < 'infinity' then
    _q.rate_burst := least(greatest(1, ceil(_q.rate_limit)), 1000000)::integer;
  end if;

  if _q.concurrency_limit <= 0 then
    raise exception 'pgtask: concurrency_limit must be at least 1, got %', _q.concurrency_limit
      using errcode = 'check_violation';
  end if;
  if _q.rate_limit <= 0 or _q.rate_limit = 'infinity' or _q.rate_limit = 'NaN' then
    raise exception 'pgtask: rate_limit must be a positive number of tasks per second, got %', _q.rate_limit
      using errcode = 'check_violation';
  end if;
  if _q.rate_burst <= 0 then
    raise exception 'pgtask: rate_burst must be at least 1, got %', _q.rate_burst using errcode = 'check_violation';
  end if;
  if _q.max_attempts not between 1 and 1000 then
    raise exception 'pgtask: max_attempts must be from 1 to 1000, got %', _q.max_attempts
      using errcode = 'check_violation';
  end if;
  if _q.min_backoff <= '0' or _q.lease <= '0' or _q.dispatch_deadline <= '0' then
    raise exception 'pgtask: min_backoff, lease and dispatch_deadline must be positive (got %, %, %)',
      _q.min_backoff, _q.lease, _q.dispatch_deadline using errcode = 'check_violation';
  end if;
  -- Only a lease being set (given, and not null: refused above) is held to the floor: an
  -- owner may shorten one by direct UPDATE on purpose (tests do), and changing another
  -- setting of that queue must still work. The floor is pgtask.queue_settings.MIN_LEASE;
  -- the MySQL store checks the same.
  if settings->'lease' is not null and _q.lease < interval '5 seconds' then
    raise exception using errcode = 'check_violation',
      message = 'pgtask: lease must be at least 5 seconds (got ' || _q.lease || '): the worker '
                'renews a lease every third of it, and one renewal may take up to its 3 s '
                'database deadline';
  end if;
  -- Upper bounds keep every "now() + interval" the claim, the rescue and the retry compute
  -- a real time.
  if _q.lease > interval '1 day' or _q.dispatch_deadline > interval '1 day'
     or _q.max_backoff > interval '365 days' then
    raise exception 'pgtask: lease and dispatch_deadline must be at most 1 day and max_backoff at most 365 days (got %, %, %)',
      _q.lease, _q.dispatch_deadline, _q.max_backoff using errcode = 'check_violation';
  end if;
  if _q.max_backoff < _q.min_backoff then
    raise exception 'pgtask: max_backoff (%) must not be shorter than min_backoff (%)',
      _q.max_backoff, _q.min_backoff using errcode = 'check_violation';
  end if;
  if _q.max_doublings not between 0 and 60 then
    raise exception 'pgtask: max_doublings must be from 0 to 60, got %', _q.max_doublings
      using errcode = 'check_violation';
  end if;
  if _q.backoff_jitter not between 0 and 1 then
    raise exception 'pgtask: backoff_jitter must be from 0 to 1, got %', _q.backoff_jitter
      using errcode = 'check_violation';
  end if;
  if _q.target_url !~ '^https?://' then
    raise exception 'pgtask: target_url must start with http:// or https://'
      using errcode = 'check_violation';
  end if;
  if _q.max_run_time not between interval '1 second' and interval '365 days' then
    raise exception 'pgtask: max_run_time must be from 1 second to 365 days, got %', _q.max_run_time
      using errcode = 'check_violation';
  end if;

  update pgtask.queues q
     set concurrency_limit = _q.concurrency_limit, rate_limit = _q.rate_limit,
         rate_burst = _q.rate_burst, max_attempts = _q.max_attempts,
         min_backoff = _q.min_backoff, max_backoff = _q.max_backoff,
         max_doublings = _q.max_doublings, backoff_jitter = _q.backoff_jitter, lease = _q.lease,
         target_url = _q.target_url, dispatch_deadline = _q.dispatch_deadline,
         max_run_time = _q.max_run_time, updated_at = now()
   where q.name = configure_queue.name
  returning q.* into _q;
  return _q;
end
$$;

-- Stop (or restart) claims from a queue; running tasks finish undisturbed.
-- Pausing a queue that has no row yet creates it, paused: an operator may stop a queue
-- before its first task arrives. False: resuming a queue that does not exist.
create function pgtask.set_queue_paused(name text, paused boolean) returns boolean
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
begin
  if set_queue_paused.paused and (name is null or not pgtask.is_valid_name(name)) then
    raise exception 'pgtask: invalid queue name %', coalesce(quote_literal(name), 'NULL')
      using errcode = 'check_violation',
            hint = 'Names match ^[a-z0-9][a-z0-9_.:-]{0,127}$, e.g. ''default''.';
  end if;
  if set_queue_paused.paused then
    insert into pgtask.queues as q (name, paused) values (set_queue_paused.name, true)
    on conflict on constraint queues_pkey do update set paused = true, updated_at = now();
    return true;
  end if;
  update pgtask.queues q set paused = false, updated_at = now()
   where q.name = set_queue_paused.name;
  return found;
end
$$;

-- Keep these log lines with their tasks, for "pgtask show".
create function pgtask.append_logs(task_ids bigint[], attempts integer[], ats timestamptz[],
                                   levels text[], messages text[]) returns void
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  insert into pgtask.task_logs (task_id, attempt, at, level, message)
  select * from unnest(task_ids, attempts, ats, levels, messages)
$$;

-- Keep what these HTTP attempts came to, for "pgtask show". "ages" say how long ago each
-- request went out, measured by the worker as a duration, so "at" is database time.
create function pgtask.record_http_attempts(task_ids bigint[], attempts integer[],
                                            ages interval[], statuses integer[],
                                            latencies_ms double precision[], reasons text[],
                                            responses text[], now timestamptz default null)
returns void
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  insert into pgtask.http_attempts (task_id, attempt, at, status, latency_ms, reason, response)
  select i.task_id, i.attempt, c.at - i.age, i.status, i.latency_ms, i.reason, i.response
    from unnest(task_ids, attempts, ages, statuses, latencies_ms, reasons, responses)
         as i(task_id, attempt, age, status, latency_ms, reason, response),
         (select pgtask.clock(now) as at) c
$$;

-- Publish the adaptive dispatch rates of these queues (null: no longer throttled) for every
-- worker and "pgtask top" to see. Returns the time they were stamped with.
create function pgtask.set_dispatch_rates(queues text[], rates double precision[],
                                          now timestamptz default null) returns timestamptz
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  with clock as materialized (select pgtask.clock(now) as at
  ), locked as (  -- in name order, like claim_task, so two publishers never deadlock
    select q.name from pgtask.queues q where q.name = any(queues) order by q.name for update
  ), changed as (
    update pgtask.queues q
       set dispatch_rate = r.rate, dispatch_rate_at = k.at
      from unnest(queues, rates) as r(name, rate), locked l, clock k
     where q.name = r.name and l.name = r.name
    returning 1
  )
  select k.at from clock k, (select count(*) from changed) c
$$;

-- Tell me how to deliver the tasks of these queues (null: every queue): target, deadline,
-- limits, retry policy, the shared adaptive rate, and how many live workers serve each
-- queue (a worker paces itself at its share of that rate). Durations in seconds.
create function pgtask.dispatch_policies(queues text[] default null,
                                         now timestamptz default null)
returns table (name text, target_url text, dispatch_deadline double precision,
               concurrency_limit integer, rate_limit double precision, rate_burst integer,
               max_attempts integer, min_backoff double precision, max_backoff double precision,
               max_doublings integer, dispatch_rate double precision,
               dispatch_rate_at timestamptz, workers integer)
language sql stable security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  select q.name, q.target_url, extract(epoch from q.dispatch_deadline)::float8,
         q.concurrency_limit, q.rate_limit, q.rate_burst, q.max_attempts,
         extract(epoch from q.min_backoff)::float8, extract(epoch from q.max_backoff)::float8,
         q.max_doublings, q.dispatch_rate, q.dispatch_rate_at,
         (select count(*) from pgtask.workers w
           where w.heartbeat_at > c.at - interval '30 seconds'
             and (w.queues is null or q.name = any(w.queues)))::integer
    from pgtask.queues q, (select pgtask.clock(dispatch_policies.now) as at) c
   where dispatch_policies.queues is null or q.name = any(dispatch_policies.queues)
   order by q.name
$$;

-- Every task, unfinished or finished, in one shape: what inspection reads.
create view pgtask.all_tasks as
  select t.id, t.queue, t.task_type, t.payload, t.state, t.priority, t.run_at, t.attempt,
         t.max_attempts, t.idempotency_key, t.target_url, t.worker_id, t.created_at,
         t.started_at, t.attempted_at, null::timestamptz as finished_at, t.errors,
         null::jsonb as result, null::text as message, t.lease_expires_at, t.parent_id,
         t.group_id, t.on_success, t.on_failure
    from pgtask.tasks t
  union all
  select h.id, h.queue, h.task_type, h.payload, h.state, h.priority, h.run_at, h.attempt,
         h.max_attempts, h.idempotency_key, h.target_url, h.worker_id, h.created_at,
         h.started_at, h.attempted_at, h.finished_at, h.errors, h.result, h.message,
         null::timestamptz, h.parent_id, h.group_id, h.on_success, h.on_failure
    from pgtask.task_history h;

-------------------------------------------------------------------------------------------
-- Taskmasters: chains and fan-in groups, the finished-task record, the done-task stream,
-- and schedules. Tasks created on the completion of other tasks, and on time.
-------------------------------------------------------------------------------------------

-- Check a description of follow-up tasks and give it back as an array of task objects (one
-- object becomes an array of one; an empty array, null). Each object is
--   {"task_type": "emails.send", "payload": {...}, "queue": "default", "priority": 0,
--    "max_attempts": 5, "target_url": "https://...", "delay": "5 minutes",
--    "on_success": <follow-ups>, "on_failure": <follow-ups>}
-- with only task_type required. Refusing a bad one here, when it is enqueued, is what lets
-- the statement that finishes its predecessor enqueue it without ever failing.
create function pgtask.check_follow_ups(spec jsonb) returns jsonb
language plpgsql stable
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _out     jsonb := '[]';
  _t       jsonb;
  _success jsonb;
  _failure jsonb;
  _unknown text;
begin
  if spec is null or spec = 'null' then
    return null;
  end if;
  if jsonb_typeof(spec) not in ('object', 'array') then
    raise exception 'pgtask: follow-up tasks must be a JSON object or an array of them, got %',
      jsonb_typeof(spec) using errcode = 'check_violation',
      hint = 'For example {"task_type": "emails.send", "payload": {"to": "a@b.c"}}.';
  end if;
  if octet_length(spec::text) > 1048576 then
    raise exception 'pgtask: follow-up tasks take % bytes; the limit is 1048576 bytes (1 MiB)',
      octet_length(spec::text) using errcode = 'check_violation';
  end if;
  if pgtask.is_too_deep(spec) then
    raise exception 'pgtask: follow-up tasks are nested more than 100 levels deep'
      using errcode = 'check_violation';
  end if;
  for _t in
    select e from jsonb_array_elements(
      case jsonb_typeof(spec) when 'array' then spec else jsonb_build_array(spec) end) e
  loop
    if jsonb_typeof(_t) <> 'object' then
      raise exception 'pgtask: a follow-up task must be a JSON object, got %', left(_t::text, 100)
        using errcode = 'check_violation',
        hint = 'For example {"task_type": "emails.send", "payload": {"to": "a@b.c"}}.';
    end if;
    select string_agg(k, ', ' order by k) into _unknown from jsonb_object_keys(_t) k
     where k not in ('task_type', 'payload', 'queue', 'priority', 'max_attempts', 'target_url',
                     'delay', 'on_success', 'on_failure');
    if _unknown is not null then
      raise exception 'pgtask: unknown follow-up task field(s): %', _unknown
        using errcode = 'check_violation',
        hint = 'Fields: task_type, payload, queue, priority, max_attempts, target_url, delay, on_success, on_failure.';
    end if;
    perform pgtask.check_task(_t->>'task_type', coalesce(_t->'payload', '{}'),
                              coalesce(_t->>'queue', 'default'),
                              coalesce((_t->>'priority')::integer, 0),
                              (_t->>'max_attempts')::integer, _t->>'target_url');
    if (_t->>'delay')::interval not between '0' and '100 years' then
      raise exception 'pgtask: a follow-up task''s delay must be from 0 to 100 years, got %',
        _t->>'delay' using errcode = 'check_violation';
    end if;
    _success := pgtask.check_follow_ups(_t->'on_success');
    _failure := pgtask.check_follow_ups(_t->'on_failure');
    _t := _t - 'on_success' - 'on_failure';
    if _success is not null then _t := _t || jsonb_build_object('on_success', _success); end if;
    if _failure is not null then _t := _t || jsonb_build_object('on_failure', _failure); end if;
    _out := _out || jsonb_build_array(_t);
  end loop;
  return nullif(_out, '[]');
end
$$;

-- A follow-up's payload: its own with "extra" (its parent's id and result, say) merged in.
-- Should that pass the 1 MiB cap, the parent's result is left out with a note saying where
-- to read it: finishing the parent must never fail for its follow-up's sake.
create function pgtask.follow_up_payload(payload jsonb, extra jsonb) returns jsonb
language sql immutable
set search_path = pgtask, pg_catalog, pg_temp
as $$
  select case when octet_length((payload || extra)::text) <= 1048576 then payload || extra
              else payload || (extra - 'parent_result') || jsonb_build_object(
                'parent_result_omitted', 'too large: read it from pgtask.done_tasks by parent_id')
         end
$$;

-- Enqueue these follow-up tasks (as check_follow_ups returns them) as of "at", each payload
-- merged with "extra", and give me their ids. Only ever called with checked input: by the
-- trigger that sees a task finish, and by enqueue_group.
create function pgtask.enqueue_follow_ups(specs jsonb, extra jsonb, at timestamptz,
                                          parent_id bigint default null,
                                          group_id bigint default null) returns bigint[]
language plpgsql volatile
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _ids bigint[];
begin
  -- A follow-up that names no queue or priority is left to the tasks_apply_task_type
  -- trigger: its task type's, then 'default' and 0 (and that queue's row).
  insert into pgtask.queues (name)
  select distinct s->>'queue' from jsonb_array_elements(specs) s
   where s->>'queue' is not null order by 1 on conflict do nothing;

  with added as (
    insert into pgtask.tasks (queue, task_type, payload, priority, run_at, max_attempts,
                              target_url, created_at, parent_id, group_id, on_success, on_failure)
    select e.s->>'queue', e.s->>'task_type',
           pgtask.follow_up_payload(coalesce(e.s->'payload', '{}'), extra),
           (e.s->>'priority')::integer,
           at + coalesce((e.s->>'delay')::interval, '0'), (e.s->>'max_attempts')::integer,
           e.s->>'target_url', at, enqueue_follow_ups.parent_id, enqueue_follow_ups.group_id,
           e.s->'on_success', e.s->'on_failure'
      from jsonb_array_elements(specs) with ordinality as e(s, n)
     order by e.n
    returning tasks.id
  )
  select array_agg(a.id order by a.id) into _ids from added a;
  return coalesce(_ids, '{}');
end
$$;

-- The last member of group "group_id" has finished at "at": enqueue the group's follow-ups,
-- telling them how the members ended, and note it on the group.
create function pgtask.complete_group(group_id bigint, at timestamptz) returns void
language plpgsql volatile
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _g pgtask.groups;
begin
  select * into _g from pgtask.groups g where g.id = complete_group.group_id;
  update pgtask.groups g
     set completed_at = at,
         follow_up_ids = pgtask.enqueue_follow_ups(_g.on_complete, jsonb_build_object(
           'group_id', _g.id, 'succeeded', _g.succeeded, 'dead', _g.dead,
           'cancelled', _g.cancelled), at)
   where g.id = _g.id;
end
$$;

-- Enqueue a fan-in group: the "members" (a JSON array of task descriptions, as
-- check_follow_ups takes them) run as usual, and "on_complete" is enqueued once, when the
-- last of them has finished, with {"group_id", "succeeded", "dead", "cancelled"} merged
-- into its payload. Gives me the group's id; its members are the tasks with that group_id.
create function pgtask.enqueue_group(members jsonb, on_complete jsonb,
                                     now timestamptz default null) returns bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _now     timestamptz := pgtask.clock(enqueue_group.now);
  _members jsonb;
  _then    jsonb := pgtask.check_follow_ups(on_complete);
  _n       integer;
  _id      bigint;
begin
  if members is null or jsonb_typeof(members) <> 'array' then
    raise exception 'pgtask: a group''s members must be a JSON array of task descriptions'
      using errcode = 'check_violation',
      hint = 'For example [{"task_type": "images.resize", "payload": {"n": 1}}].';
  end if;
  if _then is null then
    raise exception 'pgtask: a group needs on_complete: the task to enqueue when every member has finished'
      using errcode = 'check_violation';
  end if;
  _members := coalesce(pgtask.check_follow_ups(members), '[]');
  _n := jsonb_array_length(_members);
  insert into pgtask.groups (size, remaining, on_complete, created_at)
  values (_n, _n, _then, _now) returning id into _id;
  if _n = 0 then
    perform pgtask.complete_group(_id, _now);
  else
    perform pgtask.enqueue_follow_ups(_members, '{}', _now, null, _id);
  end if;
  return _id;
end
$$;

-- The finished-task record: what became of a task, its timings and attempts, and its chain
-- links: the task that enqueued it (parent_id), its fan-in group, and the tasks it enqueued
-- when it finished (follow_ups). "cursor" is its place in the done-task stream.
create view pgtask.done_tasks as
  select h.id, h.queue, h.task_type, h.state, h.payload, h.result, h.message,
         h.attempt as attempts, h.max_attempts, h.created_at, h.started_at, h.finished_at,
         h.finished_at - h.started_at as duration, h.worker_id, h.errors, h.parent_id,
         h.group_id,
         array(select c.id from pgtask.all_tasks c where c.parent_id = h.id order by c.id)
           as follow_ups,
         h.finished_xid::text || ':' || h.id::text as cursor, h.finished_xid
    from pgtask.task_history h;

-- The done-task stream: up to "max_rows" tasks that finished after "after" (the cursor of
-- a row an earlier call returned; null: from the oldest retained), in stream order.
-- Calling it again from the last row's cursor yields every finished task exactly once.
--
-- Why not "id > x" or "finished_at > x": tasks commit in another order than they get ids
-- and timestamps, so a row committed late would land behind such a cursor and be skipped.
-- The stream orders rows by the transaction that finished them (finished_xid, then id)
-- and only shows transactions older than the oldest one still running (the snapshot's
-- xmin): those have all committed or rolled back, and any later finish gets a larger
-- transaction id, so no row can appear behind the cursor afterwards. The price: a
-- transaction left open anywhere on the server holds the stream back until it ends.
-- Costs the hot path one defaulted column and one index entry per finished task.
create function pgtask.follow_done(after text default null, max_rows integer default 100)
returns setof pgtask.done_tasks
language plpgsql stable security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _xid xid8 := '0';
  _id  bigint := 0;
begin
  if after is not null then
    if after !~ '^[0-9]{1,20}:[0-9]{1,19}$' then
      raise exception 'pgtask: % is not a done-stream cursor', quote_literal(after)
        using errcode = 'invalid_parameter_value',
        hint = 'Pass the "cursor" of a row follow_done returned, or null to start at the oldest.';
    end if;
    _xid := split_part(after, ':', 1)::xid8;
    _id := split_part(after, ':', 2)::bigint;
  end if;
  if max_rows is null or max_rows not between 1 and 10000 then
    raise exception 'pgtask: max_rows must be between 1 and 10000, got %',
      coalesce(max_rows::text, 'NULL') using errcode = 'invalid_parameter_value';
  end if;
  return query
    select * from pgtask.done_tasks d
     where (d.finished_xid, d.id) > (_xid, _id)
       and d.finished_xid < pg_snapshot_xmin(pg_current_snapshot())
     order by d.finished_xid, d.id
     limit max_rows;
end
$$;

-- Create a schedule, or replace the one with this name. Give either "cron" (5 fields, or
-- @hourly, @daily, @weekly, @monthly, @yearly; read in time_zone) or "every" (a fixed
-- interval). A replaced schedule whose timing is unchanged keeps its place in time, so
-- workers may declare their schedules each time they start. "enabled" null keeps the
-- schedule's current state (a new one starts enabled).
create function pgtask.add_schedule(
  name         text,
  task_type    text,
  cron         text default null,
  every        interval default null,
  time_zone    text default 'UTC',
  payload      jsonb default '{}',
  queue        text default 'default',
  priority     integer default 0,
  max_attempts integer default null,
  catch_up     integer default 0,
  grace        interval default '1 minute',
  enabled      boolean default null,
  now          timestamptz default null
) returns pgtask.schedules
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _now timestamptz := pgtask.clock(add_schedule.now);
  _s   pgtask.schedules;
begin
  if name is null or not pgtask.is_valid_name(name) then
    raise exception 'pgtask: invalid schedule name %', coalesce(quote_literal(name), 'NULL')
      using errcode = 'check_violation',
            hint = 'Names match ^[a-z0-9][a-z0-9_.:-]{0,127}$, e.g. ''nightly-report''.';
  end if;
  if (cron is null) = (every is null) then
    raise exception 'pgtask: schedule % needs either cron or every (not both)', name
      using errcode = 'invalid_parameter_value';
  end if;
  if cron !~ '^\s*(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+(\s+\S+){4})\s*$' then
    raise exception 'pgtask: cron expression % must have 5 fields (minute hour day month weekday) or be @hourly, @daily, @weekly, @monthly or @yearly',
      quote_literal(cron) using errcode = 'invalid_parameter_value';
  end if;
  if every <= '0' then
    raise exception 'pgtask: every must be a positive interval, got %', every
      using errcode = 'invalid_parameter_value';
  end if;
  if catch_up is null or catch_up not between 0 and 1000 then
    raise exception 'pgtask: catch_up must be from 0 (skip missed runs) to 1000, got %',
      coalesce(catch_up::text, 'NULL') using errcode = 'invalid_parameter_value';
  end if;
  if grace is null or grace < '0' then
    raise exception 'pgtask: grace must not be negative' using errcode = 'invalid_parameter_value';
  end if;
  perform _now at time zone coalesce(time_zone, '');  -- refuses an unknown time zone by name
  perform pgtask.check_task(task_type, payload, queue, priority, max_attempts, null);
  insert into pgtask.queues (name) values (queue) on conflict do nothing;

  insert into pgtask.schedules as s (name, cron, every, time_zone, task_type, payload, queue,
    priority, max_attempts, enabled, catch_up, grace, anchor_at, created_at, updated_at)
  values (name, btrim(cron), every, time_zone, task_type, payload, queue, priority,
          max_attempts, coalesce(enabled, true), catch_up, grace, _now, _now, _now)
  on conflict on constraint schedules_pkey do update
     set task_type = excluded.task_type, payload = excluded.payload, queue = excluded.queue,
         priority = excluded.priority, max_attempts = excluded.max_attempts,
         catch_up = excluded.catch_up, grace = excluded.grace,
         cron = excluded.cron, every = excluded.every, time_zone = excluded.time_zone,
         enabled = coalesce(add_schedule.enabled, s.enabled),
         -- New timing, or switched back on: start afresh from now. Otherwise keep going.
         anchor_at = case when (s.cron, s.every, s.time_zone)
                               is not distinct from (excluded.cron, excluded.every, excluded.time_zone)
                          then s.anchor_at else _now end,
         next_fire_at = case when (s.cron, s.every, s.time_zone)
                                  is not distinct from (excluded.cron, excluded.every, excluded.time_zone)
                                  and (s.enabled or not coalesce(add_schedule.enabled, s.enabled))
                             then s.next_fire_at end,
         updated_at = case when (s.cron, s.every, s.time_zone)
                                is not distinct from (excluded.cron, excluded.every, excluded.time_zone)
                                and (s.enabled or not coalesce(add_schedule.enabled, s.enabled))
                           then s.updated_at else _now end
  returning s.* into _s;
  return _s;
end
$$;

-- Delete a schedule and its record of fire times. False: there was no such schedule.
create function pgtask.remove_schedule(name text) returns boolean
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  with gone as (delete from pgtask.schedules s where s.name = remove_schedule.name returning 1)
  select exists (select 1 from gone)
$$;

-- Switch a schedule on or off. Switched back on, it starts afresh from "now": the fire
-- times it slept through are not caught up. False: there is no such schedule.
create function pgtask.set_schedule_enabled(name text, enabled boolean,
                                            now timestamptz default null) returns boolean
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  with changed as (
    update pgtask.schedules s
       set enabled = set_schedule_enabled.enabled,
           next_fire_at = case when s.enabled then s.next_fire_at end,
           updated_at = case when s.enabled or not set_schedule_enabled.enabled then s.updated_at
                             else pgtask.clock(set_schedule_enabled.now) end
     where s.name = set_schedule_enabled.name
    returning 1
  )
  select exists (select 1 from changed)
$$;

-- Enqueue schedule "s"'s task for fire time "fire_at", exactly once: a fire time already
-- enqueued gives back its task. The caller holds the schedule's row lock; the primary key
-- of schedule_fires would refuse a second task for the fire time anyway.
create function pgtask.schedule_task(s pgtask.schedules, fire_at timestamptz) returns bigint
language plpgsql volatile
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _id bigint;
begin
  select f.task_id into _id from pgtask.schedule_fires f
   where f.schedule = s.name and f.fire_at = schedule_task.fire_at;
  if found then
    return _id;
  end if;
  _id := pgtask.enqueue_task(s.task_type, s.payload, s.queue, schedule_task.fire_at, s.priority,
                             null, s.max_attempts);
  insert into pgtask.schedule_fires (schedule, fire_at, task_id)
  values (s.name, schedule_task.fire_at, _id);
  return _id;
end
$$;

-- The scheduler's one call per schedule and tick: enqueue one task per fire time (each
-- task's run_at is its fire time) and move the schedule on to "next_fire_at". A fire time
-- enqueued before gives back the same task; one the schedule has already moved past
-- without enqueueing it (skipped as missed) gives null. Nothing happens when the schedule
-- is gone, disabled, or changed since "if_updated_at" (the scheduler read an old version).
create function pgtask.fire_schedule(name text, fire_times timestamptz[],
                                     next_fire_at timestamptz default null,
                                     if_updated_at timestamptz default null)
returns table (fire_at timestamptz, task_id bigint)
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _s pgtask.schedules;
  _f timestamptz;
begin
  select * into _s from pgtask.schedules s where s.name = fire_schedule.name for update;
  if not found or not _s.enabled or _s.updated_at <> coalesce(if_updated_at, _s.updated_at) then
    return;
  end if;
  foreach _f in array coalesce(fire_times, '{}') loop
    fire_at := _f;
    task_id := case when _f >= coalesce(_s.next_fire_at, '-infinity')
                    then pgtask.schedule_task(_s, _f)
                    else (select f.task_id from pgtask.schedule_fires f
                           where f.schedule = _s.name and f.fire_at = _f) end;
    return next;
  end loop;
  update pgtask.schedules s
     set next_fire_at = greatest(s.next_fire_at, fire_schedule.next_fire_at),
         last_fire_at = greatest(s.last_fire_at, (select max(f) from unnest(fire_times) f))
   where s.name = _s.name;
end
$$;

-- Enqueue a schedule's task right now ("pgtask schedule run-now"), enabled or not, without
-- moving the schedule's own fire times. Gives the task's id.
create function pgtask.run_schedule_now(name text, now timestamptz default null) returns bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _s pgtask.schedules;
begin
  select * into _s from pgtask.schedules s where s.name = run_schedule_now.name for update;
  if not found then
    raise exception 'pgtask: no schedule named %', quote_literal(name)
      using errcode = 'no_data_found', hint = 'See "pgtask schedule ls".';
  end if;
  return pgtask.schedule_task(_s, pgtask.clock(run_schedule_now.now));
end
$$;

-------------------------------------------------------------------------------------------
-- Triggers
-------------------------------------------------------------------------------------------

-- Wake the workers: once per INSERT statement, one notification per queue that received a
-- task it can run now, payload = the queue name. Statement-level on purpose: a row-level
-- trigger would send one per row, and every notifying commit takes a cluster-wide lock.
-- "SET LOCAL pgtask.notify = 'off'" silences it for a bulk load; workers poll anyway.
create function pgtask.notify_new_tasks() returns trigger
language plpgsql
set search_path = pgtask, pg_catalog, pg_temp
as $$
begin
  -- No waiting worker (all busy, or none yet): nobody to wake, and the insert skips the
  -- cluster-wide lock that every notifying commit takes. Asked first because it is the
  -- cheap question: ~15 us of a ~135 us single-task enqueue_task (pgbench).
  if not exists (select 1 from pgtask.workers w where w.waiting)
     or coalesce(current_setting('pgtask.notify', true), '') = 'off' then
    return null;
  end if;
  -- Only queues some waiting worker serves.
  perform pg_notify('pgtask', q.queue)
     from (select distinct n.queue from new_tasks n where n.run_at <= now()) q
    where exists (select 1 from pgtask.workers w
                   where w.waiting and (w.queues is null or q.queue = any(w.queues)));
  return null;
end
$$;

create trigger tasks_notify after insert on pgtask.tasks
  referencing new table as new_tasks
  for each statement execute function pgtask.notify_new_tasks();

-- A row inserted without a queue or a priority (a raw "INSERT INTO pgtask.tasks", a
-- follow-up that names neither): fill them, and max_attempts, from its task type, then
-- 'default' and 0, and give its queue a row so that workers claim it. The trigger's WHEN
-- keeps enqueue_task and enqueue_tasks, which fill every column themselves, from ever
-- calling it: the hot path pays nothing.
create function pgtask.apply_task_type() returns trigger
language plpgsql
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _type pgtask.task_types;
begin
  select * into _type from pgtask.task_types t where t.name = new.task_type;
  new.queue := coalesce(new.queue, _type.queue, 'default');
  new.priority := coalesce(new.priority, _type.priority, 0);
  new.max_attempts := coalesce(new.max_attempts, _type.max_attempts);
  if not exists (select 1 from pgtask.queues q where q.name = new.queue) then
    insert into pgtask.queues (name) values (new.queue) on conflict do nothing;
  end if;
  return new;
end
$$;

create trigger tasks_apply_task_type before insert on pgtask.tasks
  for each row when (new.queue is null or new.priority is null)
  execute function pgtask.apply_task_type();

-- A task finished: enqueue what it asked for, its on_success tasks (given its result) or,
-- when it ended dead, its on_failure tasks (given its error); a cancelled task's chain
-- stops. Then count it in its fan-in group, and enqueue the group's follow-ups when it was
-- the last member. A trigger on history, so every path that finishes a task
-- (finish_tasks, rescue_tasks, cancel_task) does this inside its own statement: the
-- follow-ups exist exactly when the finish commits. Only chained or grouped rows fire it.
create function pgtask.task_finished() returns trigger
language plpgsql
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _left integer;
begin
  if new.state = 'succeeded' and new.on_success is not null then
    perform pgtask.enqueue_follow_ups(new.on_success, jsonb_build_object(
      'parent_id', new.id, 'parent_result', new.result), new.finished_at, new.id);
  elsif new.state = 'dead' and new.on_failure is not null then
    perform pgtask.enqueue_follow_ups(new.on_failure, jsonb_build_object(
      'parent_id', new.id, 'parent_error', new.message), new.finished_at, new.id);
  end if;
  if new.group_id is not null then
    -- The group row's lock orders concurrent finishes: exactly one of them sees zero left.
    -- (Finishing statements archive in group order, so they take these locks in one order.)
    update pgtask.groups g
       set remaining = g.remaining - 1,
           succeeded = g.succeeded + (new.state = 'succeeded')::integer,
           dead = g.dead + (new.state = 'dead')::integer,
           cancelled = g.cancelled + (new.state = 'cancelled')::integer
     where g.id = new.group_id and g.remaining > 0
    returning g.remaining into _left;
    if _left = 0 then
      perform pgtask.complete_group(new.group_id, new.finished_at);
    end if;
  end if;
  return null;
end
$$;

create trigger task_history_follow_ups after insert on pgtask.task_history
  for each row
  when (new.on_success is not null or new.on_failure is not null or new.group_id is not null)
  execute function pgtask.task_finished();

-- Tell followers of the done-task stream that tasks finished: one notification on channel
-- pgtask_done per finishing statement, when the setting pgtask.notify_done is 'on' (e.g.
-- ALTER DATABASE app SET pgtask.notify_done = 'on'). Off by default: every notifying
-- commit takes a cluster-wide lock, and followers poll anyway.
create function pgtask.notify_done() returns trigger
language plpgsql
set search_path = pgtask, pg_catalog, pg_temp
as $$
begin
  if current_setting('pgtask.notify_done', true) = 'on' then
    perform pg_notify('pgtask_done', '');
  end if;
  return null;
end
$$;

create trigger task_history_notify after insert on pgtask.task_history
  for each statement execute function pgtask.notify_done();

-------------------------------------------------------------------------------------------
-- Grants
-------------------------------------------------------------------------------------------

-- Nothing is public. The optional roles script (sql/postgres/roles.sql) grants what an
-- application (enqueue only) and a worker need; the functions run as their owner.
revoke all on schema pgtask from public;
revoke all on all tables in schema pgtask from public;
revoke all on all sequences in schema pgtask from public;
revoke all on all functions in schema pgtask from public;
