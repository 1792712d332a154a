-- Optional roles for pgtask, run once by a superuser (or a role with CREATEROLE) after
-- "pgtask migrate":
--
--   pgtask_app     may only put tasks on queues: enqueue_task and enqueue_tasks.
--   pgtask_worker  runs tasks: claims, heartbeats, finishes, logs; may also enqueue.
--   pgtask_owner   operators: everything in schema pgtask.
--
-- The roles cannot log in; grant them to your login roles ("grant pgtask_app to myapp").
-- Every pgtask function is SECURITY DEFINER, so these roles need no table privileges.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'pgtask_app') then
    create role pgtask_app nologin;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'pgtask_worker') then
    create role pgtask_worker nologin;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'pgtask_owner') then
    create role pgtask_owner nologin;
  end if;
end
$$;

grant usage on schema pgtask to pgtask_app, pgtask_worker, pgtask_owner;

grant execute on function
  pgtask.enqueue_task(text, jsonb, text, timestamptz, integer, text, integer, text),
  pgtask.enqueue_tasks(text[], jsonb[], text[], timestamptz[], integer[], text[], integer[], text[])
  to pgtask_app, pgtask_worker;

grant execute on function
  pgtask.claim_task(text[], text, integer, text[], timestamptz),
  pgtask.finish_tasks(bigint[], uuid[], text[], jsonb[], text[], interval[], timestamptz),
  pgtask.complete_task(bigint, uuid, jsonb, timestamptz),
  pgtask.complete_tasks(bigint[], uuid[], jsonb[], timestamptz),
  pgtask.fail_task(bigint, uuid, text, interval, boolean, timestamptz),
  pgtask.fail_tasks(bigint[], uuid[], text[], interval[], boolean[], timestamptz),
  pgtask.heartbeat(text, bigint[], uuid[], timestamptz),
  pgtask.register_worker(text, text, integer, text[], text[], integer, timestamptz),
  pgtask.deregister_worker(text),
  pgtask.rescue_tasks(timestamptz),
  pgtask.prune(interval, timestamptz),
  pgtask.append_logs(bigint[], integer[], timestamptz[], text[], text[])
  to pgtask_worker;
-- Workers read queue policy and task rows (to run them) but change nothing directly.
grant select on pgtask.queues, pgtask.tasks to pgtask_worker;

grant all on all tables in schema pgtask to pgtask_owner;
grant all on all sequences in schema pgtask to pgtask_owner;
grant execute on all functions in schema pgtask to pgtask_owner;
