-- pgtask schema revision 0006: pgtask where Python teams already are (issue 18).
-- Frozen once released, like 0001 to 0005: sql/postgres/pgtask.sql is the whole current
-- schema, and tests/sql/test_migrations.py checks that 0001 + ... + 0006 build exactly that.

-------------------------------------------------------------------------------------------
-- Trace context: the enqueuer's span, carried to the worker (OpenTelemetry)
-------------------------------------------------------------------------------------------

-- The W3C trace context (traceparent, tracestate) of the span that enqueued the task, so
-- that the worker's span for each attempt continues that trace. Null: none (OpenTelemetry
-- absent, or no span active). Written by whoever may enqueue, so the worker treats it as
-- untrusted input; the cap keeps a hostile value from bloating the hot table. Not carried
-- to task_history (finish_tasks names its columns): a finished task's trace lives in the
-- tracing backend, and follow-up tasks start without one.
alter table pgtask.tasks add column trace_context jsonb
  constraint trace_context_is_small_object check (
    jsonb_typeof(trace_context) = 'object' and octet_length(trace_context::text) <= 4096);

-- enqueue_task and enqueue_tasks gain a last parameter. "create or replace" cannot add one,
-- so the old signatures are dropped and the new ones created; their owner and every grant
-- the old ones held (the roles script's, or an operator's own) are copied onto the new ones
-- below. The owner matters: these are SECURITY DEFINER, and an upgrade run by another role
-- (a superuser, say) would otherwise leave them running as that role. Old callers,
-- positional or named, keep working: the new parameter defaults to null.
create temporary table pgtask_0006_grants as
  select p.proname::text as name, p.proowner::regrole::text as owner,
         array(select a.grantee::regrole::text from aclexplode(p.proacl) a
                where a.privilege_type = 'EXECUTE' and a.grantee <> 0
                  and a.grantee <> p.proowner order by 1) as grantees
    from pg_proc p
   where p.oid in ('pgtask.enqueue_task(text, jsonb, text, timestamptz, integer, text,
                                        integer, text, jsonb, jsonb)'::regprocedure,
                   'pgtask.enqueue_tasks(text[], jsonb[], text[], timestamptz[], integer[],
                                         text[], integer[], text[], jsonb[], jsonb[])'::regprocedure);

drop function pgtask.enqueue_task(text, jsonb, text, timestamptz, integer, text, integer, text,
                                  jsonb, jsonb);
drop function pgtask.enqueue_tasks(text[], jsonb[], text[], timestamptz[], integer[], text[],
                                   integer[], text[], jsonb[], jsonb[]);

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

revoke all on function
  pgtask.enqueue_task(text, jsonb, text, timestamptz, integer, text, integer, text, jsonb,
                      jsonb, jsonb),
  pgtask.enqueue_tasks(text[], jsonb[], text[], timestamptz[], integer[], text[], integer[],
                       text[], jsonb[], jsonb[], jsonb[])
  from public;

-- Copy each old function's owner and grants onto its successor.
do $$
declare
  _old      record;
  _function text;
  _grantee  text;
begin
  for _old in select * from pg_temp.pgtask_0006_grants order by name loop
    _function := case _old.name
      when 'enqueue_task' then 'pgtask.enqueue_task(text, jsonb, text, timestamptz, integer, '
                               'text, integer, text, jsonb, jsonb, jsonb)'
      else 'pgtask.enqueue_tasks(text[], jsonb[], text[], timestamptz[], integer[], text[], '
           'integer[], text[], jsonb[], jsonb[], jsonb[])' end;
    execute format('alter function %s owner to %s', _function, _old.owner);
    foreach _grantee in array _old.grantees loop
      execute format('grant execute on function %s to %s', _function, _grantee);
    end loop;
  end loop;
end
$$;
drop table pg_temp.pgtask_0006_grants;

-------------------------------------------------------------------------------------------
-- Pruning in bounded batches
-------------------------------------------------------------------------------------------

-- Completed groups, oldest first, for prune_batch (one group row per enqueue_group: a busy
-- fan-in leaves many); open groups are not indexed.
create index groups_completed_at on pgtask.groups (completed_at) where completed_at is not null;

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

revoke all on function pgtask.prune_batch(interval, integer, timestamptz) from public;

-- Whoever may prune may prune in batches: prune's owner (it is SECURITY DEFINER, see the
-- trace-context section) and every grant prune holds (the roles script's, or an
-- operator's own) are copied onto prune_batch.
do $$
declare
  _prune   regprocedure := 'pgtask.prune(interval, timestamptz)'::regprocedure;
  _owner   text;
  _grantee text;
begin
  select p.proowner::regrole::text into _owner from pg_proc p where p.oid = _prune;
  execute format('alter function pgtask.prune_batch(interval, integer, timestamptz) owner to %s',
                 _owner);
  for _grantee in select a.grantee::regrole::text from pg_proc p, aclexplode(p.proacl) a
                   where p.oid = _prune and a.privilege_type = 'EXECUTE' and a.grantee <> 0
                     and a.grantee <> p.proowner order by 1 loop
    execute format('grant execute on function pgtask.prune_batch(interval, integer, timestamptz) to %s',
                   _grantee);
  end loop;
end
$$;
