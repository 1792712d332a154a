-- pgtask schema revision 0004: security (issue 15).
-- Frozen once released, like 0001 to 0003: sql/postgres/pgtask.sql is the whole current
-- schema, and tests/sql/test_migrations.py checks that 0001 + ... + 0004 build exactly that.
--
-- New functions (internal: called by pgtask's own functions, granted to nobody):
--   clock         the time a function works with: pg_catalog.now(), or the "now" a caller
--                 passed, which only the schema's owner and pgtask_owner's members may
--                 do. Before, the worker role could call rescue_tasks('infinity') (take
--                 every live lease) or prune(now => 'infinity') (wipe history), and the
--                 application role enqueue_group(..., now => 'infinity').
--   check_run_at  refuses a run_at no reader can load: infinities, BC dates, years past
--                 9999 took workers, `pgtask ls/show/top` and the web app down.
--   is_run_at_in_range, is_too_deep   the two bounds, each defined once (inlined where
--                 used): run_at from 1970 to 100 years ahead, JSON at most 100 levels deep.
--
-- Same signatures, new bodies ("create or replace" keeps every grant):
--   every function taking "now" asks clock() for the time;
--   check_task       refuses a payload nested more than 100 levels deep (Python's json
--                    gives up near 1,000; MySQL refuses more than 100);
--   check_follow_ups the same for follow-up specs, and delays from 0 to 100 years;
--   enqueue_task, enqueue_tasks   check run_at;
--   finish_tasks     a retry or snooze delay past 100 years waits 100 years (a handler's
--                    Retry(after=...) could overflow the timestamp and fail the batch);
--   configure_queue  lease and dispatch_deadline at most 1 day, max_backoff at most 365 days.
--
-- Least privilege: pgtask_owner (sql/postgres/roles.sql) keeps only the DML it needs. A
-- trigger it attached to pgtask.tasks ran as the functions' owner (whoever migrated, often
-- a superuser) inside the next enqueue_task.

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

-- Create a schedule, or replace the one with this name. Give either "cron" (5 fields, or
-- @hourly, @daily, @weekly, @monthly, @yearly; read in time_zone) or "every" (a fixed
-- interval). A replaced schedule whose timing is unchanged keeps its place in time, so
-- workers may declare their schedules each time they start. "enabled" null keeps the
-- schedule's current state (a new one starts enabled).
create or replace function pgtask.add_schedule(
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

-- Stop this task: a queued one will never run, a running one loses its lease (its worker
-- is told on channel pgtask_cancel and stops the handler). False: it had already finished.
create or replace function pgtask.cancel_task(id bigint, reason text default null,
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

-- Check a description of follow-up tasks and give it back as an array of task objects (one
-- object becomes an array of one; an empty array, null). Each object is
--   {"task_type": "emails.send", "payload": {...}, "queue": "default", "priority": 0,
--    "max_attempts": 5, "target_url": "https://...", "delay": "5 minutes",
--    "on_success": <follow-ups>, "on_failure": <follow-ups>}
-- with only task_type required. Refusing a bad one here, when it is enqueued, is what lets
-- the statement that finishes its predecessor enqueue it without ever failing.
create or replace function pgtask.check_follow_ups(spec jsonb) returns jsonb
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

-- Refuse a task that the tables would refuse, with a message that says what to fix.
-- No "set search_path": only pgtask's own functions call it, with theirs set, and the
-- clause's save and restore was ~20 us of every enqueue_task call.
create or replace function pgtask.check_task(task_type text, payload jsonb, queue text, priority integer,
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

-- Find me up to "batch" tasks to do, and give me a lease on them.
-- Claims honour priority (higher first), then run_at, then id; skip paused queues; take
-- only the task types the worker knows (null: any); and respect each queue's global
-- concurrency and rate limits, which every worker sees the same way because they are
-- checked under the queue row's lock. Each claim counts an attempt and issues a new lease
-- token, which every later call about the task must present.
create or replace function pgtask.claim_task(
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

-- Change a queue's policy ("pgtask queue set"), creating the queue if it has no row yet.
-- "settings" names only the columns to change; a JSON null clears a nullable column. Every
-- value is checked here with a message that names the setting, before the table's own
-- constraints would refuse it less helpfully. Returns the queue as it now stands.
create or replace function pgtask.configure_queue(name text, settings jsonb) returns pgtask.queues
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
                   'dispatch_deadline');
  if _unknown is not null then
    raise exception 'pgtask: unknown queue setting(s): %', _unknown using errcode = 'invalid_parameter_value';
  end if;
  select string_agg(k, ', ' order by k) into _cleared from jsonb_each(settings) s(k, v)
   where v = 'null' and k not in ('concurrency_limit', 'rate_limit', 'target_url');
  if _cleared is not null then
    raise exception 'pgtask: % cannot be cleared (only concurrency_limit, rate_limit and target_url can)',
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

  update pgtask.queues q
     set concurrency_limit = _q.concurrency_limit, rate_limit = _q.rate_limit,
         rate_burst = _q.rate_burst, max_attempts = _q.max_attempts,
         min_backoff = _q.min_backoff, max_backoff = _q.max_backoff,
         max_doublings = _q.max_doublings, backoff_jitter = _q.backoff_jitter, lease = _q.lease,
         target_url = _q.target_url, dispatch_deadline = _q.dispatch_deadline, updated_at = now()
   where q.name = configure_queue.name
  returning q.* into _q;
  return _q;
end
$$;

-- Tell me how to deliver the tasks of these queues (null: every queue): target, deadline,
-- limits, retry policy, the shared adaptive rate, and how many live workers serve each
-- queue (a worker paces itself at its share of that rate). Durations in seconds.
create or replace function pgtask.dispatch_policies(queues text[] default null,
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

-- Enqueue a fan-in group: the "members" (a JSON array of task descriptions, as
-- check_follow_ups takes them) run as usual, and "on_complete" is enqueued once, when the
-- last of them has finished, with {"group_id", "succeeded", "dead", "cancelled"} merged
-- into its payload. Gives me the group's id; its members are the tasks with that group_id.
create or replace function pgtask.enqueue_group(members jsonb, on_complete jsonb,
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

-- Put a task on a queue and give me its id. Called inside the application's own
-- transaction, the task exists exactly when that transaction commits. With an idempotency
-- key, a second call for the same (queue, key) returns the first task's id instead.
-- "on_success" and "on_failure" name follow-up tasks (see check_follow_ups), enqueued by
-- the statement that finishes this one: after it succeeds (given its result), or when it
-- ends dead (given its error).
create or replace function pgtask.enqueue_task(
  task_type       text,
  payload         jsonb default '{}',
  queue           text default 'default',
  run_at          timestamptz default null,
  priority        integer default 0,
  idempotency_key text default null,
  max_attempts    integer default null,
  target_url      text default null,
  on_success      jsonb default null,
  on_failure      jsonb default null
) returns bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _id         bigint := nextval('pgtask.task_id_seq');
  _on_success jsonb;
  _on_failure jsonb;
begin
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
                            idempotency_key, max_attempts, target_url, on_success, on_failure)
  values (_id, queue, task_type, payload, priority, coalesce(run_at, now()),
          idempotency_key, max_attempts, target_url, _on_success, _on_failure);
  return _id;
end
$$;

-- Put many tasks on queues in one statement and give me their ids, in input order.
-- Arrays run in parallel; a null array (or element) takes the single-task default.
create or replace function pgtask.enqueue_tasks(
  task_types       text[],
  payloads         jsonb[] default null,
  queues           text[] default null,
  run_ats          timestamptz[] default null,
  priorities       integer[] default null,
  idempotency_keys text[] default null,
  max_attempts     integer[] default null,
  target_urls      text[] default null,
  on_successes     jsonb[] default null,
  on_failures      jsonb[] default null
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
     or (on_failures is not null and cardinality(on_failures) <> _n) then
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

  insert into pgtask.queues (name)
  select distinct coalesce(q, 'default') from unnest(coalesce(queues, array['default'])) q
   order by 1 on conflict do nothing;

  -- Tasks without a key go in with one INSERT (and so one NOTIFY per queue).
  insert into pgtask.tasks (id, queue, task_type, payload, priority, run_at, max_attempts,
                            target_url, on_success, on_failure)
  select i.id, coalesce(i.queue, 'default'), i.task_type, coalesce(i.payload, '{}'),
         coalesce(i.priority, 0), coalesce(i.run_at, now()), i.max_attempts, i.target_url,
         case when i.on_success is not null then pgtask.check_follow_ups(i.on_success) end,
         case when i.on_failure is not null then pgtask.check_follow_ups(i.on_failure) end
    from unnest(_ids, task_types, payloads, queues, run_ats, priorities, max_attempts,
                target_urls, idempotency_keys, on_successes, on_failures)
         with ordinality as i(id, task_type, payload, queue, run_at, priority, max_attempts,
                              target_url, idempotency_key, on_success, on_failure, n)
   where i.idempotency_key is null
   order by i.n;

  -- Tasks with a key take the single-task path, which settles races on the key.
  if idempotency_keys is not null then
    for _i in 1 .. _n loop
      continue when idempotency_keys[_i] is null;
      _ids[_i] := pgtask.enqueue_task(
        task_types[_i], coalesce(payloads[_i], '{}'), coalesce(queues[_i], 'default'),
        run_ats[_i], coalesce(priorities[_i], 0), idempotency_keys[_i], max_attempts[_i],
        target_urls[_i], on_successes[_i], on_failures[_i]);
    end loop;
  end if;

  return query select unnest(_ids);
end
$$;

-- Record what became of the tasks I hold, all in one statement, and tell me which ones
-- were still mine. Each outcome is one of:
--   succeeded  the task is done; "result" is kept.
--   failed     it raised "error"; retry after "delay" (or the queue's backoff), or make it
--              dead when that was the last attempt.
--   dead       a permanent failure: no more attempts.
--   snoozed    run again after "delay" without spending an attempt.
--   released   put back untouched (graceful shutdown): the attempt is refunded.
-- A task whose lease token no longer matches (it was rescued, cancelled, or claimed again)
-- is left alone and missing from the answer: its late result is discarded.
create or replace function pgtask.finish_tasks(
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
              where o is null or o not in ('succeeded', 'failed', 'dead', 'snoozed', 'released')) then
    raise exception 'pgtask: outcomes must be succeeded, failed, dead, snoozed or released'
      using errcode = 'invalid_parameter_value';
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
    returning t.*, h.next_state, h.result as outcome_result, h.entry
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
           f.entry->>'error', f.parent_id, f.group_id, f.on_success, f.on_failure
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

-- I am still working on these tasks: extend their leases, and note that I am alive.
-- Returns the ids I no longer hold (rescued, cancelled or claimed by another worker), so I
-- can stop working on them.
create or replace function pgtask.heartbeat(worker_id text, ids bigint[] default '{}',
                                 lease_tokens uuid[] default '{}',
                                 now timestamptz default null) returns setof bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _now timestamptz := pgtask.clock(heartbeat.now);
begin
  update pgtask.workers w set heartbeat_at = _now, in_flight = coalesce(cardinality(ids), 0)
   where w.id = heartbeat.worker_id;

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

-- Forget finished tasks older than "older_than", with their keys, logs and HTTP attempts;
-- also completed groups and schedule fire times that old.
-- Returns how many tasks were forgotten.
create or replace function pgtask.prune(older_than interval default '7 days', now timestamptz default null)
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

-- Keep what these HTTP attempts came to, for "pgtask show". "ages" say how long ago each
-- request went out, measured by the worker as a duration, so "at" is database time.
create or replace function pgtask.record_http_attempts(task_ids bigint[], attempts integer[],
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

-- Add me to the list of live workers (or refresh my row).
create or replace function pgtask.register_worker(worker_id text, host text, pid integer, queues text[],
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

-- Move the tasks whose lease ran out back to the queue (or to "dead" when that was their
-- last attempt: a task that kills its worker every time must still run out of attempts).
-- Also forget workers presumed dead (see the delete below). Returns how many tasks moved.
create or replace function pgtask.rescue_tasks(now timestamptz default null) returns integer
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
  return _moved;
end
$$;

-- Give a dead or cancelled task another go: it returns to its queue with fresh attempts,
-- keeping its id, key and error history. False: the task is not dead or cancelled.
create or replace function pgtask.retry_task(id bigint, now timestamptz default null) returns boolean
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

-- Enqueue a schedule's task right now ("pgtask schedule run-now"), enabled or not, without
-- moving the schedule's own fire times. Gives the task's id.
create or replace function pgtask.run_schedule_now(name text, now timestamptz default null) returns bigint
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

-- Publish the adaptive dispatch rates of these queues (null: no longer throttled) for every
-- worker and "pgtask top" to see. Returns the time they were stamped with.
create or replace function pgtask.set_dispatch_rates(queues text[], rates double precision[],
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

-- Switch a schedule on or off. Switched back on, it starts afresh from "now": the fire
-- times it slept through are not caught up. False: there is no such schedule.
create or replace function pgtask.set_schedule_enabled(name text, enabled boolean,
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


revoke all on function pgtask.clock(timestamptz), pgtask.check_run_at(timestamptz),
  pgtask.is_too_deep(jsonb), pgtask.is_run_at_in_range(timestamptz) from public;

-- Installations that ran an earlier roles.sql: take back what pgtask_owner no longer gets.
do $$
begin
  if pg_catalog.to_regrole('pgtask_owner') is not null then
    revoke trigger, truncate, references on all tables in schema pgtask from pgtask_owner;
    revoke update on all sequences in schema pgtask from pgtask_owner;
    revoke insert, update, delete on pgtask.alembic_version from pgtask_owner;
  end if;
end
$$;
