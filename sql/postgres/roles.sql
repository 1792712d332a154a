-- Optional roles for pgtask, run once by a superuser (or a role with CREATEROLE) after
-- "pgtask migrate":
--
--   pgtask_app     may only put tasks on queues: enqueue_task and enqueue_tasks.
--   pgtask_worker  runs tasks: claims, heartbeats, finishes, logs; may also enqueue.
--   pgtask_owner   operators: every function, and the rows of every table (select, insert,
--                  update, delete), but not their definitions.
--
-- The roles cannot log in; grant them to your login roles ("grant pgtask_app to myapp").
-- Every pgtask function is SECURITY DEFINER, so these roles need no table privileges.
-- Those functions run as the role that migrated: migrate as a dedicated owner that is not
-- a superuser (docs/security.md). Run this script again after each "pgtask migrate": it
-- grants on what exists when it runs.

-- Roles belong to the whole cluster: another database's run of this script may create
-- them at the same moment, which is fine.
do $$
declare
  _role text;
begin
  foreach _role in array array['pgtask_app', 'pgtask_worker', 'pgtask_owner'] loop
    if not exists (select 1 from pg_roles where rolname = _role) then
      begin
        execute format('create role %I nologin', _role);
      exception when duplicate_object or unique_violation then
        null;  -- created meanwhile by a concurrent run
      end;
    end if;
  end loop;
end
$$;

grant usage on schema pgtask to pgtask_app, pgtask_worker, pgtask_owner;

grant execute on function
  pgtask.enqueue_task(text, jsonb, text, timestamptz, integer, text, integer, text, jsonb, jsonb,
                      jsonb),
  pgtask.enqueue_tasks(text[], jsonb[], text[], timestamptz[], integer[], text[], integer[], text[],
                       jsonb[], jsonb[], jsonb[]),
  pgtask.enqueue_group(jsonb, jsonb, timestamptz)
  to pgtask_app, pgtask_worker;

grant execute on function
  pgtask.claim_task(text[], text, integer, text[], timestamptz, boolean),
  pgtask.claim_wait(text[], text[], boolean, timestamptz),
  pgtask.finish_tasks(bigint[], uuid[], text[], jsonb[], text[], interval[], timestamptz),
  pgtask.complete_task(bigint, uuid, jsonb, timestamptz),
  pgtask.complete_tasks(bigint[], uuid[], jsonb[], timestamptz),
  pgtask.fail_task(bigint, uuid, text, interval, boolean, timestamptz),
  pgtask.fail_tasks(bigint[], uuid[], text[], interval[], boolean[], timestamptz),
  pgtask.heartbeat(text, bigint[], uuid[], timestamptz),
  pgtask.register_worker(text, text, integer, text[], text[], integer, timestamptz),
  pgtask.register_task_types(text, jsonb, timestamptz),
  pgtask.deregister_worker(text),
  pgtask.set_worker_waiting(text, boolean),
  pgtask.rescue_tasks(timestamptz),
  pgtask.prune(interval, timestamptz),
  pgtask.prune_batch(interval, integer, timestamptz),
  pgtask.append_logs(bigint[], integer[], timestamptz[], text[], text[]),
  pgtask.record_http_attempts(bigint[], integer[], interval[], integer[], double precision[],
                              text[], text[], timestamptz),
  pgtask.set_dispatch_rates(text[], double precision[], timestamptz),
  pgtask.dispatch_policies(text[], timestamptz),
  pgtask.add_schedule(text, text, text, interval, text, jsonb, text, integer, integer, integer,
                      interval, boolean, timestamptz),
  pgtask.fire_schedule(text, timestamptz[], timestamptz, timestamptz),
  pgtask.follow_done(text, integer)
  to pgtask_worker;
-- Workers read queue policy, task rows (to run them) and schedules (the scheduler among them
-- computes fire times) but change nothing directly; done_tasks is the finished-task record.
grant select on pgtask.queues, pgtask.tasks, pgtask.schedules, pgtask.done_tasks to pgtask_worker;

-- Operators change rows (retry, cancel, queue policy, a repair by hand), never the tables
-- themselves: no TRIGGER (a trigger on pgtask.tasks would run inside the next enqueue_task
-- as the functions' owner), no TRUNCATE, no REFERENCES; no setval on the task id sequence;
-- the migration history is read-only. Revokes undo what earlier versions granted.
revoke all on all tables in schema pgtask from pgtask_owner;
revoke all on all sequences in schema pgtask from pgtask_owner;
grant select, insert, update, delete on all tables in schema pgtask to pgtask_owner;
grant usage, select on all sequences in schema pgtask to pgtask_owner;
revoke insert, update, delete on pgtask.all_tasks, pgtask.done_tasks from pgtask_owner;  -- views
do $$
begin
  if pg_catalog.to_regclass('pgtask.alembic_version') is not null then
    revoke insert, update, delete on pgtask.alembic_version from pgtask_owner;
  end if;
end
$$;
grant execute on all functions in schema pgtask to pgtask_owner;
