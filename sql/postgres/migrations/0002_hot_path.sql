-- pgtask schema revision 0002: the hot path, measured (bench/README.md, Findings).
-- Frozen once released, like 0001: sql/postgres/pgtask.sql is the whole current schema, and
-- tests/sql/test_migrations.py checks that 0001 + 0002 build exactly that.
--
-- Same signatures as 0001, new bodies ("create or replace" keeps every grant):
--   claim_task    picks ids into an array and updates by primary key: a generic plan of the
--                 old join hashed the whole hot table on every claim.
--   finish_tasks  probes the primary key once per outcome (a lateral locking subquery): the
--                 old join let stale statistics compare every running task with every outcome.
--   enqueue_tasks checks names once per distinct value instead of twice per row.
--   enqueue_task  looks the queue up before upserting it (the upsert that finds the row was
--                 the dearer way to learn it exists).
--   check_task    has no "set search_path" clause (its save and restore cost every enqueue).
--   notify_new_tasks  asks first whether any worker waits at all (the cheap question).
--   claim_task and finish_tasks now plan once per session (plan_cache_mode =
--   force_generic_plan): a claim of one task took ~700 us with a fresh plan each call,
--   ~480 us without.

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
    select * from unnest(task_types, payloads, queues, priorities, max_attempts, target_urls)
                  with ordinality as i(task_type, payload, queue, priority, max_attempts,
                                       target_url, n)
     where i.task_type is null or i.task_type = any(_bad_names)
        or coalesce(i.queue, 'default') = any(_bad_names)
        or not coalesce(jsonb_typeof(coalesce(i.payload, '{}')) = 'object'
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
  _now      timestamptz := coalesce(claim_task.now, pg_catalog.now());
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
       set state = 'queued', run_at = _now + h.wait, lease_token = null,
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

-- Wake the workers: once per INSERT statement, one notification per queue that received a
-- task it can run now, payload = the queue name. Statement-level on purpose: a row-level
-- trigger would send one per row, and every notifying commit takes a cluster-wide lock.
-- "SET LOCAL pgtask.notify = 'off'" silences it for a bulk load; workers poll anyway.
create or replace function pgtask.notify_new_tasks() returns trigger
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
