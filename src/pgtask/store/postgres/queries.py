"""The statements the Postgres store sends for the worker (store.py), one constant each.

Each calls one PL/pgSQL function of sql/postgres/pgtask.sql where there is one; parameters
are always bound (%s), never formatted in.
"""

CLAIM = """
select c.id, c.queue, c.task_type, c.payload, c.attempt,
       coalesce(c.max_attempts, q.max_attempts) as max_attempts,
       c.lease_token, c.run_at, c.created_at, c.attempted_at, c.idempotency_key, c.target_url,
       q.lease, c.trace_context
  from pgtask.claim_task(%s::text[], %s, %s, %s::text[], null, %s) c
  join pgtask.queues q on q.name = c.queue
"""
CLAIM_WAIT = """
select w.next_token_in, w.slots_full, w.limited
  from pgtask.claim_wait(%s::text[], %s::text[], %s) w
"""
FINISH = """
select f.id from pgtask.finish_tasks(%s::bigint[], %s::uuid[], %s::text[], %s::jsonb[],
                                     %s::text[], %s::interval[]) f
"""
APPEND_LOGS = """
select pgtask.append_logs(%s::bigint[], %s::integer[], %s::timestamptz[], %s::text[], %s::text[])
"""
# When the earliest of the tasks just sent back to the queue is due (seconds from now).
NEXT_DUE = """
select extract(epoch from min(t.run_at) - now()) from pgtask.tasks t
 where t.id = any(%s::bigint[]) and t.state = 'queued'
"""
HEARTBEAT = "select h from pgtask.heartbeat(%s, %s::bigint[], %s::uuid[]) h"
NOW = "select now()"
# The cluster's identifier (made by initdb) and the database's oid: a clone of the database
# or a restore elsewhere gets another id, a replica or a restart keeps it.
DATABASE_ID = """select s.system_identifier || '-' || d.oid from pg_control_system() s,
  pg_database d where d.datname = current_database()"""
REGISTER = "select pgtask.register_worker(%s, %s, %s, %s::text[], %s::text[], %s)"
DEREGISTER = "select pgtask.deregister_worker(%s)"
REGISTER_TASK_TYPES = "select pgtask.register_task_types(%s, %s::text::jsonb)"
SET_WAITING = "select pgtask.set_worker_waiting(%s, %s)"
TRY_MAINTENANCE_LOCK = "select pg_try_advisory_xact_lock(%s)"
RESCUE = "select pgtask.rescue_tasks()"
PRUNE_BATCH = "select pgtask.prune_batch(%s, %s)"  # store/pruning.py loops it
CANCEL = "select pgtask.cancel_task(%s, %s)"
RETRY = "select pgtask.retry_task(%s)"
# A session-level lock (VACUUM cannot run inside a transaction): one vacuum at a time.
TRY_VACUUM_LOCK = "select pg_try_advisory_lock(%s)"
VACUUM_UNLOCK = "select pg_advisory_unlock(%s)"
# Under load, no truncation: cutting off empty pages at the end needs an exclusive lock that
# busy claimers rarely leave free, and VACUUM keeps trying for up to 5 s, during which no
# other vacuum runs (the sustained run peaked at 41 MB that way). When the queue is idle,
# it takes the lock at once and gives the space back.
VACUUM_HOT_TABLE = {True: "vacuum pgtask.tasks", False: "vacuum (truncate false) pgtask.tasks"}
# Whether this role may vacuum the hot table (its owner, a member of the owner's role, the
# database owner or a superuser): VACUUM would only warn otherwise, every time.
MAY_VACUUM = """
select r.rolsuper or pg_has_role(c.relowner, 'USAGE')
       or pg_has_role((select datdba from pg_database where datname = current_database()),
                      'USAGE')
  from pg_class c, pg_roles r
 where c.oid = 'pgtask.tasks'::regclass and r.rolname = current_user
"""
