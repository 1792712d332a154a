-- pgtask schema revision 0003: the worker under faults (issue 14).
-- Frozen once released, like 0001 and 0002: sql/postgres/pgtask.sql is the whole current
-- schema, and tests/sql/test_migrations.py checks that 0001 + 0002 + 0003 build exactly that.
--
-- Same signatures, new bodies ("create or replace" keeps every grant):
--   configure_queue  refuses a lease shorter than 5 seconds, with the reason. The worker
--                    renews a lease every third of the shortest it holds and gives up on a
--                    database call after 3 s, so a shorter lease can run out under a live,
--                    healthy run (which is then lost to a new claim). Only a lease being
--                    set is checked; the table's own check stays "lease > 0", so a shorter
--                    one can still be set by direct UPDATE (the fault tests do).
--   rescue_tasks     forgets a worker silent for greatest(1 minute, 3 x the longest queue
--                    lease) instead of 10 minutes: a killed worker's row no longer lingers
--                    in `pgtask top`, nor makes enqueues notify a listener that is gone.
--                    A live worker heartbeats at least every 20 s, so only one cut off
--                    from the database that long is forgotten, its leases expired by then.

-- Move the tasks whose lease ran out back to the queue (or to "dead" when that was their
-- last attempt). Also forget workers presumed dead (see the delete below). Returns how many
-- tasks moved.
create or replace function pgtask.rescue_tasks(now timestamptz default null) returns integer
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

-- Change a queue's policy ("pgtask queue set"), creating the queue if it has no row yet.
-- Every value is checked with a message that names the setting; returns the queue.
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
