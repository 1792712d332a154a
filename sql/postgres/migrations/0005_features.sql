-- pgtask schema revision 0005: every feature as a user meets it (issue 16).
-- Frozen once released, like 0001 to 0004: sql/postgres/pgtask.sql is the whole current
-- schema, and tests/sql/test_migrations.py checks that 0001 + ... + 0005 build exactly that.

-------------------------------------------------------------------------------------------
-- Task types in the database
-------------------------------------------------------------------------------------------

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

-- Rows that leave out queue or priority take their task type's (tasks_apply_task_type).
alter table pgtask.tasks alter column queue drop default, alter column priority drop default;

-- Record the task types a starting worker runs, with the options it declared for them.
-- "definitions" is a JSON array of {"name", "queue", "priority", "max_attempts",
-- "timeout_seconds", "title", "description"}; the latest worker to start wins, so a
-- deploy that changes a type's options takes effect as its first worker starts.
create or replace function pgtask.register_task_types(worker_id text, definitions jsonb,
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

-- Put a task on a queue and give me its id. Called inside the application's own
-- transaction, the task exists exactly when that transaction commits. With an idempotency
-- key, a second call for the same (queue, key) returns the first task's id instead.
-- "on_success" and "on_failure" name follow-up tasks (see check_follow_ups), enqueued by
-- the statement that finishes this one: after it succeeds (given its result), or when it
-- ends dead (given its error). A null queue, priority or max_attempts takes the task
-- type's (pgtask.task_types), then 'default', 0 and the queue's.
create or replace function pgtask.enqueue_task(
  task_type       text,
  payload         jsonb default '{}',
  queue           text default null,
  run_at          timestamptz default null,
  priority        integer default null,
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
                            idempotency_key, max_attempts, target_url, on_success, on_failure)
  values (_id, queue, task_type, payload, priority, coalesce(run_at, now()),
          idempotency_key, max_attempts, target_url, _on_success, _on_failure);
  return _id;
end
$$;

-- Put many tasks on queues in one statement and give me their ids, in input order.
-- Arrays run in parallel; a null array (or element) takes the single-task default (for
-- queue, priority and max_attempts: the task type's, as enqueue_task).
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

  -- What a row leaves out, its task type's definition fills (then 'default', 0 and the
  -- queue's attempts): a hash join with a small table, empty until a worker starts.
  insert into pgtask.queues (name)
  select distinct coalesce(i.queue, t.queue, 'default')
    from unnest(task_types, queues) as i(task_type, queue)
    left join pgtask.task_types t on i.queue is null and t.name = i.task_type
   order by 1 on conflict do nothing;

  -- Tasks without a key go in with one INSERT (and so one NOTIFY per queue).
  insert into pgtask.tasks (id, queue, task_type, payload, priority, run_at, max_attempts,
                            target_url, on_success, on_failure)
  select i.id, coalesce(i.queue, t.queue, 'default'), i.task_type, coalesce(i.payload, '{}'),
         coalesce(i.priority, t.priority, 0), coalesce(i.run_at, now()),
         coalesce(i.max_attempts, t.max_attempts), i.target_url,
         case when i.on_success is not null then pgtask.check_follow_ups(i.on_success) end,
         case when i.on_failure is not null then pgtask.check_follow_ups(i.on_failure) end
    from unnest(_ids, task_types, payloads, queues, run_ats, priorities, max_attempts,
                target_urls, idempotency_keys, on_successes, on_failures)
         with ordinality as i(id, task_type, payload, queue, run_at, priority, max_attempts,
                              target_url, idempotency_key, on_success, on_failure, n)
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
        target_urls[_i], on_successes[_i], on_failures[_i]);
    end loop;
  end if;

  return query select unnest(_ids);
end
$$;

-- Enqueue these follow-up tasks (as check_follow_ups returns them) as of "at", each payload
-- merged with "extra", and give me their ids. Only ever called with checked input: by the
-- trigger that sees a task finish, and by enqueue_group.
create or replace function pgtask.enqueue_follow_ups(specs jsonb, extra jsonb, at timestamptz,
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

-- A row inserted without a queue or a priority (a raw "INSERT INTO pgtask.tasks", a
-- follow-up that names neither): fill them, and max_attempts, from its task type, then
-- 'default' and 0, and give its queue a row so that workers claim it. The trigger's WHEN
-- keeps enqueue_task and enqueue_tasks, which fill every column themselves, from ever
-- calling it: the hot path pays nothing.
create or replace function pgtask.apply_task_type() returns trigger
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

revoke all on pgtask.task_types from public;
revoke all on function pgtask.register_task_types(text, jsonb, timestamptz),
  pgtask.apply_task_type() from public;



-- rescue_tasks also gives a queue row to a queue that a raw INSERT named without one.
-- Move the tasks whose lease ran out back to the queue (or to "dead" when that was their
-- last attempt: a task that kills its worker every time must still run out of attempts).
-- Also forget workers presumed dead (see the delete below), and give a queue row to any
-- queue that queued tasks name without one. Returns how many tasks moved.
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

-------------------------------------------------------------------------------------------
-- Queue limits and policy
-------------------------------------------------------------------------------------------

-- Unstuck: a queue's longest run, enforced by heartbeat (null: none, the default).
alter table pgtask.queues add column max_run_time interval
  constraint max_run_time_in_range check (max_run_time between '1 second' and '365 days');

-- A rate now comes with one second's worth of burst (configure_queue). Rate-limited queues
-- still at the old default burst of 1 get it too: with a burst of 1, a worker a moment late
-- loses tokens, and "--rate 5/s" delivered less than 5/s. (An explicit 1 reads the same.)
update pgtask.queues set rate_burst = least(greatest(1, ceil(rate_limit)), 1000000)::integer
 where rate_limit is not null and rate_burst = 1;

-- finish_tasks takes outcome 'cancelled': a handler that raised pgtask.Cancel(reason).
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

create or replace function pgtask.claim_wait(queues text[], task_types text[] default null,
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

create or replace function pgtask.set_queue_paused(name text, paused boolean) returns boolean
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

create or replace function pgtask.heartbeat(worker_id text, ids bigint[] default '{}',
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

revoke all on function pgtask.claim_wait(text[], text[], boolean, timestamptz) from public;

-------------------------------------------------------------------------------------------
-- Operators' tools
-------------------------------------------------------------------------------------------

-- The errors list ("pgtask errors"): finished tasks that failed at least once, newest first.
create index task_history_errored on pgtask.task_history (id) where errors <> '[]';

-- Take a queued task off its queue as if it had never been enqueued: no history row, no
-- follow-ups, its idempotency key free again, its log lines and HTTP attempts gone. False:
-- there is no such task. A task that is running, finished or counted by a fan-in group is
-- refused, with what to do instead (a group waits for each member: cancel it so it counts).
create or replace function pgtask.delete_task(id bigint) returns boolean
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
create or replace function pgtask.update_task(id bigint, changes jsonb, now timestamptz default null)
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

-- Operators' functions: nobody's but the owner's until roles.sql grants them (pgtask_owner).
revoke all on function pgtask.delete_task(bigint),
  pgtask.update_task(bigint, jsonb, timestamptz) from public;


-------------------------------------------------------------------------------------------
-- HTTP delivery
-------------------------------------------------------------------------------------------
