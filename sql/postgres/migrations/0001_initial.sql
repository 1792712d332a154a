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
                    constraint queue_name_is_valid check (name ~ '^[a-z0-9][a-z0-9_.:-]{0,127}$'),
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
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  constraint backoff_bounds_are_ordered check (max_backoff >= min_backoff)
);

-- Unfinished work: the only table a claim reads. Kept small on purpose.
create table pgtask.tasks (
  id               bigint primary key default nextval('pgtask.task_id_seq'),
  queue            text not null default 'default'
                   constraint queue_name_is_valid check (queue ~ '^[a-z0-9][a-z0-9_.:-]{0,127}$'),
  task_type        text not null
                   constraint task_type_is_valid check (task_type ~ '^[a-z0-9][a-z0-9_.:-]{0,127}$'),
  payload          jsonb not null default '{}'
                   constraint payload_is_an_object check (jsonb_typeof(payload) = 'object'),
  state            pgtask.task_state not null default 'queued'
                   constraint tasks_hold_unfinished_work check (state in ('queued', 'running')),
  priority         smallint not null default 0
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
  -- 1 MiB; an operator may replace this constraint to change the cap.
  constraint payload_size_cap check (octet_length(payload::text) <= 1048576),
  constraint running_iff_leased check (
    (state = 'running') = (lease_token is not null and lease_expires_at is not null
                           and worker_id is not null and attempted_at is not null)),
  constraint attempts_within_max check (max_attempts is null or attempt <= max_attempts)
);

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
  heartbeat_at timestamptz not null default now()
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
create index task_logs_task on pgtask.task_logs (task_id, at);

-------------------------------------------------------------------------------------------
-- Functions
-------------------------------------------------------------------------------------------

-- Tell me whether this text may name a queue or a task type.
create function pgtask.is_valid_name(name text) returns boolean
language sql immutable parallel safe
set search_path = pgtask, pg_catalog, pg_temp
as $$ select name ~ '^[a-z0-9][a-z0-9_.:-]{0,127}$' $$;

-- Refuse a task that the tables would refuse, with a message that says what to fix.
create function pgtask.check_task(task_type text, payload jsonb, queue text, priority integer,
                                  max_attempts integer, target_url text) returns void
language plpgsql immutable
set search_path = pgtask, pg_catalog, pg_temp
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

-- Put a task on a queue and give me its id. Called inside the application's own
-- transaction, the task exists exactly when that transaction commits. With an idempotency
-- key, a second call for the same (queue, key) returns the first task's id instead.
create function pgtask.enqueue_task(
  task_type       text,
  payload         jsonb default '{}',
  queue           text default 'default',
  run_at          timestamptz default null,
  priority        integer default 0,
  idempotency_key text default null,
  max_attempts    integer default null,
  target_url      text default null
) returns bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _id bigint := nextval('pgtask.task_id_seq');
begin
  perform pgtask.check_task(task_type, payload, queue, priority, max_attempts, target_url);
  insert into pgtask.queues (name) values (queue) on conflict do nothing;

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
                            idempotency_key, max_attempts, target_url)
  values (_id, queue, task_type, payload, priority, coalesce(run_at, now()),
          idempotency_key, max_attempts, target_url);
  return _id;
end
$$;

-- Put many tasks on queues in one statement and give me their ids, in input order.
-- Arrays run in parallel; a null array (or element) takes the single-task default.
create function pgtask.enqueue_tasks(
  task_types       text[],
  payloads         jsonb[] default null,
  queues           text[] default null,
  run_ats          timestamptz[] default null,
  priorities       integer[] default null,
  idempotency_keys text[] default null,
  max_attempts     integer[] default null,
  target_urls      text[] default null
) returns setof bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _n   integer := coalesce(cardinality(task_types), 0);
  _ids bigint[];
  _bad record;
  _i   integer;
begin
  if _n = 0 then return; end if;
  if (payloads is not null and cardinality(payloads) <> _n)
     or (queues is not null and cardinality(queues) <> _n)
     or (run_ats is not null and cardinality(run_ats) <> _n)
     or (priorities is not null and cardinality(priorities) <> _n)
     or (idempotency_keys is not null and cardinality(idempotency_keys) <> _n)
     or (max_attempts is not null and cardinality(max_attempts) <> _n)
     or (target_urls is not null and cardinality(target_urls) <> _n) then
    raise exception 'pgtask: enqueue_tasks arrays must all have % elements (one per task)', _n
      using errcode = 'invalid_parameter_value';
  end if;

  -- No temporary table here: a caller's own temp table (with its own trigger) would run
  -- code as this function's owner. Arrays only.
  _ids := array(select nextval('pgtask.task_id_seq') from generate_series(1, _n));

  -- Validate the cheap way first; on a bad row, let check_task name the problem.
  for _bad in
    select * from unnest(task_types, payloads, queues, priorities, max_attempts, target_urls)
                  with ordinality as i(task_type, payload, queue, priority, max_attempts,
                                       target_url, n)
     where not coalesce(pgtask.is_valid_name(i.task_type)
                        and pgtask.is_valid_name(coalesce(i.queue, 'default'))
                        and jsonb_typeof(coalesce(i.payload, '{}')) = 'object'
                        and coalesce(i.priority, 0) between -1000 and 1000
                        and coalesce(i.max_attempts between 1 and 1000, true)
                        and coalesce(i.target_url ~ '^https?://', true)
                        and octet_length(coalesce(i.payload, '{}')::text) <= 1048576, false)
     order by i.n limit 1
  loop
    perform pgtask.check_task(_bad.task_type, coalesce(_bad.payload, '{}'),
                              coalesce(_bad.queue, 'default'), coalesce(_bad.priority, 0),
                              _bad.max_attempts, _bad.target_url);
  end loop;

  insert into pgtask.queues (name)
  select distinct coalesce(q, 'default') from unnest(coalesce(queues, array['default'])) q
   order by 1 on conflict do nothing;

  -- Tasks without a key go in with one INSERT (and so one NOTIFY per queue).
  insert into pgtask.tasks (id, queue, task_type, payload, priority, run_at, max_attempts,
                            target_url)
  select i.id, coalesce(i.queue, 'default'), i.task_type, coalesce(i.payload, '{}'),
         coalesce(i.priority, 0), coalesce(i.run_at, now()), i.max_attempts, i.target_url
    from unnest(_ids, task_types, payloads, queues, run_ats, priorities, max_attempts,
                target_urls, idempotency_keys)
         with ordinality as i(id, task_type, payload, queue, run_at, priority, max_attempts,
                              target_url, idempotency_key, n)
   where i.idempotency_key is null
   order by i.n;

  -- Tasks with a key take the single-task path, which settles races on the key.
  if idempotency_keys is not null then
    for _i in 1 .. _n loop
      continue when idempotency_keys[_i] is null;
      _ids[_i] := pgtask.enqueue_task(
        task_types[_i], coalesce(payloads[_i], '{}'), coalesce(queues[_i], 'default'),
        run_ats[_i], coalesce(priorities[_i], 0), idempotency_keys[_i], max_attempts[_i],
        target_urls[_i]);
    end loop;
  end if;

  return query select unnest(_ids);
end
$$;

-- How long to wait before attempt number "attempt + 1", after attempt "attempt" failed:
-- min_backoff doubled (attempt - 1) times, at most max_doublings times, capped at
-- max_backoff, then spread by +/- jitter/2. "noise" in [0, 1) picks the point in the
-- spread; tests pass 0.5 for the exact middle.
create function pgtask.backoff(attempt integer, min_backoff interval, max_backoff interval,
                               max_doublings integer, jitter double precision,
                               noise double precision default random()) returns interval
language sql volatile parallel safe
set search_path = pgtask, pg_catalog, pg_temp
as $$
  select least(max_backoff,
               least(max_backoff,
                     min_backoff * power(2, least(greatest(attempt - 1, 0), max_doublings)))
               * (1 + jitter * (noise - 0.5)))
$$;

-- Move the tasks whose lease ran out back to the queue (or to "dead" when that was their
-- last attempt: a task that kills its worker every time must still run out of attempts).
-- Also forget workers that stopped heartbeating long ago. Returns how many tasks moved.
create function pgtask.rescue_tasks(now timestamptz default null) returns integer
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _now   timestamptz := coalesce(rescue_tasks.now, pg_catalog.now());
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
      attempted_at, finished_at, errors, message)
    select b.id, b.queue, b.task_type, b.payload, 'dead', b.priority, b.run_at, b.attempt,
           b.max_attempts, b.idempotency_key, b.target_url, b.worker_id, b.created_at,
           b.started_at, b.attempted_at, _now, b.errors || n.entry, n.entry->>'error'
      from buried b join note n on n.id = b.id
    returning 1
  ), requeued as (
    update pgtask.tasks t
       set state = 'queued', run_at = _now, lease_token = null, lease_expires_at = null,
           worker_id = null, errors = t.errors || n.entry
      from note n where t.id = n.id and not n.exhausted
    returning 1
  )
  select (select count(*) from archived) + (select count(*) from requeued) into _moved;

  delete from pgtask.workers w where w.heartbeat_at < _now - interval '10 minutes';
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
  now        timestamptz default null
) returns setof pgtask.tasks
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _now      timestamptz := coalesce(claim_task.now, pg_catalog.now());
  _wanted   integer := batch;
  _q        pgtask.queues;
  _room     integer;
  _tokens   double precision;
  _taken    integer;
  _open     text[];
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
      return query
      with picked as materialized (
        select t.id from pgtask.tasks t
         where t.state = 'queued' and t.queue = _q.name and t.run_at <= _now
           and (task_types is null or t.task_type = any(task_types))
         order by t.priority desc, t.run_at, t.id
         limit _room
         for update skip locked
      ), claimed as (
        update pgtask.tasks t
           set state = 'running', attempt = t.attempt + 1, lease_token = gen_random_uuid(),
               lease_expires_at = _now + _q.lease, worker_id = claim_task.worker_id,
               started_at = coalesce(t.started_at, _now), attempted_at = _now
          from picked p where t.id = p.id
        returning t.*
      )
      select * from claimed c order by c.priority desc, c.run_at, c.id;
      get diagnostics _taken = row_count;
      _wanted := _wanted - _taken;
    end if;
    if _q.rate_limit is not null then
      update pgtask.queues q set rate_tokens = _tokens - _taken, rate_updated_at = _now
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

  return query
  with picked as materialized (
    select t.id from pgtask.tasks t
     where t.state = 'queued' and t.run_at <= _now and t.queue = any(_open)
       and (task_types is null or t.task_type = any(task_types))
     order by t.priority desc, t.run_at, t.id
     limit _wanted
     for update skip locked
  ), claimed as (
    update pgtask.tasks t
       set state = 'running', attempt = t.attempt + 1, lease_token = gen_random_uuid(),
           lease_expires_at = _now + q.lease, worker_id = claim_task.worker_id,
           started_at = coalesce(t.started_at, _now), attempted_at = _now
      from picked p, pgtask.queues q
     where t.id = p.id and q.name = t.queue
    returning t.*
  )
  select * from claimed c order by c.priority desc, c.run_at, c.id;
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
as $$
declare
  _now timestamptz := coalesce(finish_tasks.now, pg_catalog.now());
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
    select * from unnest(ids, tokens, outcomes,
                         coalesce(results, array_fill(null::jsonb, array[_n])),
                         coalesce(errors, array_fill(null::text, array[_n])),
                         coalesce(delays, array_fill(null::interval, array[_n])))
             as i(id, token, outcome, result, error, delay)
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
      join pgtask.tasks t on t.id = i.id and t.lease_token = i.token and t.state = 'running'
      join pgtask.queues q on q.name = t.queue
       for update of t
  ), finished as (
    delete from pgtask.tasks t using held h
     where t.id = h.id and h.next_state <> 'queued'
    returning t.*
  ), archived as (
    insert into pgtask.task_history (id, queue, task_type, payload, state, priority, run_at,
      attempt, max_attempts, idempotency_key, target_url, worker_id, created_at, started_at,
      attempted_at, finished_at, errors, result, message)
    select f.id, f.queue, f.task_type, f.payload, h.next_state, f.priority, f.run_at,
           f.attempt, f.max_attempts, f.idempotency_key, f.target_url, f.worker_id,
           f.created_at, f.started_at, f.attempted_at, _now,
           case when h.entry is null then f.errors else f.errors || h.entry end,
           case when h.next_state = 'succeeded' then h.result end,
           h.entry->>'error'
      from finished f join held h on h.id = f.id
    returning task_history.id
  ), requeued as (
    update pgtask.tasks t
       set state = 'queued', run_at = _now + h.wait, lease_token = null,
           lease_expires_at = null, worker_id = null,
           attempt = case when h.outcome in ('snoozed', 'released') then t.attempt - 1
                          else t.attempt end,
           errors = case when h.entry is null then t.errors else t.errors || h.entry end
      from held h
     where t.id = h.id and h.next_state = 'queued'
    returning t.id
  )
  select h.id, h.next_state from held h
   where h.id in (select a.id from archived a union all select r.id from requeued r)
   order by h.id;
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
-- can stop working on them.
create function pgtask.heartbeat(worker_id text, ids bigint[] default '{}',
                                 lease_tokens uuid[] default '{}',
                                 now timestamptz default null) returns setof bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _now timestamptz := coalesce(heartbeat.now, pg_catalog.now());
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

-- Add me to the list of live workers (or refresh my row).
create function pgtask.register_worker(worker_id text, host text, pid integer, queues text[],
                                       task_types text[], concurrency integer,
                                       now timestamptz default null) returns void
language sql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
  insert into pgtask.workers (id, host, pid, queues, task_types, concurrency, started_at, heartbeat_at)
  values (worker_id, host, pid, queues, task_types, concurrency,
          coalesce(now, pg_catalog.now()), coalesce(now, pg_catalog.now()))
  on conflict (id) do update
     set host = excluded.host, pid = excluded.pid, queues = excluded.queues,
         task_types = excluded.task_types, concurrency = excluded.concurrency,
         heartbeat_at = excluded.heartbeat_at
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
  _now   timestamptz := coalesce(cancel_task.now, pg_catalog.now());
  _state pgtask.task_state;
begin
  with gone as (
    delete from pgtask.tasks t where t.id = cancel_task.id returning t.*
  ), archived as (
    insert into pgtask.task_history (id, queue, task_type, payload, state, priority, run_at,
      attempt, max_attempts, idempotency_key, target_url, worker_id, created_at, started_at,
      attempted_at, finished_at, errors, message)
    select g.id, g.queue, g.task_type, g.payload, 'cancelled', g.priority, g.run_at, g.attempt,
           g.max_attempts, g.idempotency_key, g.target_url, g.worker_id, g.created_at,
           g.started_at, g.attempted_at, _now, g.errors, coalesce(reason, 'cancelled')
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
  _now     timestamptz := coalesce(retry_task.now, pg_catalog.now());
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
                              max_attempts, idempotency_key, target_url, created_at, errors)
    select r.id, r.queue, r.task_type, r.payload, r.priority, _now, 0, r.max_attempts,
           r.idempotency_key, r.target_url, r.created_at, r.errors
      from revived r
    returning 1
  )
  select count(*) into _revived from requeued;
  return _revived > 0;
end
$$;

-- Forget finished tasks older than "older_than", with their keys and logs.
-- Returns how many tasks were forgotten.
create function pgtask.prune(older_than interval default '7 days', now timestamptz default null)
returns bigint
language plpgsql volatile security definer
set search_path = pgtask, pg_catalog, pg_temp
as $$
declare
  _cutoff timestamptz := coalesce(prune.now, pg_catalog.now()) - older_than;
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
  )
  select count(*) into _count from old;
  return _count;
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

-- Every task, unfinished or finished, in one shape: what inspection reads.
create view pgtask.all_tasks as
  select t.id, t.queue, t.task_type, t.payload, t.state, t.priority, t.run_at, t.attempt,
         t.max_attempts, t.idempotency_key, t.target_url, t.worker_id, t.created_at,
         t.started_at, t.attempted_at, null::timestamptz as finished_at, t.errors,
         null::jsonb as result, null::text as message, t.lease_expires_at
    from pgtask.tasks t
  union all
  select h.id, h.queue, h.task_type, h.payload, h.state, h.priority, h.run_at, h.attempt,
         h.max_attempts, h.idempotency_key, h.target_url, h.worker_id, h.created_at,
         h.started_at, h.attempted_at, h.finished_at, h.errors, h.result, h.message,
         null::timestamptz
    from pgtask.task_history h;

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
  if coalesce(current_setting('pgtask.notify', true), '') = 'off' then
    return null;
  end if;
  perform pg_notify('pgtask', q.queue)
     from (select distinct n.queue from new_tasks n where n.run_at <= now()) q;
  return null;
end
$$;

create trigger tasks_notify after insert on pgtask.tasks
  referencing new table as new_tasks
  for each statement execute function pgtask.notify_new_tasks();

-------------------------------------------------------------------------------------------
-- Grants
-------------------------------------------------------------------------------------------

-- Nothing is public. The optional roles script (sql/postgres/roles.sql) grants what an
-- application (enqueue only) and a worker need; the functions run as their owner.
revoke all on schema pgtask from public;
revoke all on all tables in schema pgtask from public;
revoke all on all sequences in schema pgtask from public;
revoke all on all functions in schema pgtask from public;
