"""The SQL the MySQL store issues, as constants (schema: sql/mysql/pgtask.sql).

Where Postgres passes arrays and unnests them, these statements take one JSON document and
read it with JSON_TABLE (MySQL 8.0, MariaDB 10.6): the SQL text stays constant whatever the
batch size. The JSON_TABLE side drives every join (STRAIGHT_JOIN) so a locking statement only
ever touches the rows it names by primary key, however small the table looks to the planner.

A few statements filter by a list of names; `in_list(n)` renders their "%s, %s, ..." (only
placeholders are ever formatted into SQL, never values). A literal % in a statement that
takes parameters is written %%.
"""

from __future__ import annotations

from typing import Any

from pymysql.cursors import Cursor

# Re-exported: migrations and tests read scripts with it from here.
from pgtask.store.mysql.script import split_script as split_script

# -- documents read with JSON_TABLE ------------------------------------------------------

# Per finished/requeued task: the state it moves to and what to record (see rules.py).
TRANSITIONS = """JSON_TABLE(%s, '$[*]' COLUMNS (
    id      BIGINT      PATH '$.id',
    state   VARCHAR(16) PATH '$.state',
    run_at  DATETIME(6) PATH '$.run_at',
    refund  INT         PATH '$.refund',
    entry   LONGTEXT    PATH '$.entry',
    result  LONGTEXT    PATH '$.result',
    message LONGTEXT    PATH '$.message')) AS i"""

HELD = """JSON_TABLE(%s, '$[*]' COLUMNS (
    id    BIGINT   PATH '$.id',
    token CHAR(36) PATH '$.token')) AS i"""

LEASES = """JSON_TABLE(%s, '$[*]' COLUMNS (
    id      BIGINT      PATH '$.id',
    token   CHAR(36)    PATH '$.token',
    expires DATETIME(6) PATH '$.expires')) AS i"""

LOG_LINES = """JSON_TABLE(%s, '$[*]' COLUMNS (
    task_id BIGINT      PATH '$.task_id',
    attempt INT         PATH '$.attempt',
    at      DATETIME(6) PATH '$.at',
    level   VARCHAR(16) PATH '$.level',
    message LONGTEXT    PATH '$.message')) AS i"""

APPEND_ERROR = "JSON_ARRAY_APPEND(t.errors, '$', JSON_EXTRACT(i.entry, '$'))"

NOW = "SELECT UTC_TIMESTAMP(6)"
# MariaDB has no server uuid: the server's host name and port with the database's name.
DATABASE_ID = "SELECT MD5(CONCAT(@@hostname, ':', @@port, '/', DATABASE()))"

# -- claim -------------------------------------------------------------------------------

# The clock, whether any lease has run out, and every unpaused queue's policy (one row even
# when there are no queues: the LEFT JOIN keeps the clock row).
CLAIM_CONTEXT = """
SELECT c.now, c.expired, q.name, q.concurrency_limit, q.rate_limit, q.lease, q.max_attempts,
       q.target_url IS NOT NULL AS targeted
  FROM (SELECT UTC_TIMESTAMP(6) AS now,
               EXISTS (SELECT 1 FROM pgtask_tasks
                        WHERE state = 'running' AND lease_expires_at < UTC_TIMESTAMP(6))
                 AS expired) AS c
  LEFT JOIN pgtask_queues q ON NOT q.paused
"""

# Queues with limits are claimed under their row's lock, so every worker sees the same
# running count and token bucket. A queue another claimer holds is skipped: it is filling it.
LOCK_LIMITED_QUEUES = """
SELECT name, concurrency_limit, rate_limit, rate_burst, rate_tokens, rate_updated_at,
       target_url IS NOT NULL
  FROM pgtask_queues
 WHERE name IN ({names}) AND NOT paused
   AND (concurrency_limit IS NOT NULL OR rate_limit IS NOT NULL)
 ORDER BY name
   FOR UPDATE SKIP LOCKED
"""

# After a short claim: the unpaused limited queues that hold ready work back (claim.py's
# claim_wait), with what their limits need: running count, token bucket, the clock.
# {queues}: TRUE, or q.name IN (...) for the worker's queues.
CLAIM_WAIT = """
SELECT q.name, q.concurrency_limit, q.rate_limit, q.rate_burst, q.rate_tokens,
       q.rate_updated_at,
       (SELECT COUNT(*) FROM pgtask_tasks r WHERE r.queue = q.name AND r.state = 'running'),
       UTC_TIMESTAMP(6), NOT q.paused AND EXISTS (
         SELECT 1 FROM pgtask_tasks t
          WHERE t.state = 'queued' AND t.queue = q.name AND t.run_at <= UTC_TIMESTAMP(6))
  FROM pgtask_queues q
 WHERE (q.concurrency_limit IS NOT NULL OR q.rate_limit IS NOT NULL) AND {queues}
"""
ANY_QUEUE = "TRUE"
QUEUE_NAME_IN = "q.name IN ({names})"

COUNT_RUNNING = """
SELECT queue, COUNT(*) FROM pgtask_tasks
 WHERE state = 'running' AND queue IN ({names})
 GROUP BY queue
"""

# Never move the bucket's clock back: a claimer whose transaction began a moment earlier
# must not earn the same seconds of tokens twice.
SPEND_TOKENS = """
UPDATE pgtask_queues SET rate_tokens = %s, rate_updated_at = GREATEST(rate_updated_at, %s)
 WHERE name = %s
"""

# Claim order: priority (higher first), then run_at, then id. {types} is empty, or
# " AND (" + terms joined by " OR " + ")": the worker's task types, and with_targets, any
# HTTP-target task (its own URL, or its queue's).
PICK = """
SELECT id, queue, task_type, payload, attempt, max_attempts, run_at, created_at,
       idempotency_key, target_url, trace_context
  FROM pgtask_tasks
 WHERE state = 'queued' AND run_at <= %s AND queue IN ({names}){types}
 ORDER BY priority DESC, run_at, id
 LIMIT %s
   FOR UPDATE SKIP LOCKED
"""
TYPE_IN = "task_type IN ({names})"
HAS_TARGET = "target_url IS NOT NULL"
QUEUE_IN = "queue IN ({names})"

# Each claim counts an attempt and issues a new lease token.
TAKE_LEASES = f"""
UPDATE {LEASES} STRAIGHT_JOIN pgtask_tasks t ON t.id = i.id
   SET t.state = 'running', t.attempt = t.attempt + 1, t.lease_token = i.token,
       t.lease_expires_at = i.expires, t.worker_id = %s,
       t.started_at = COALESCE(t.started_at, %s), t.attempted_at = %s
"""

# -- finish, rescue, cancel: moving tasks on ---------------------------------------------

LOCK_HELD = f"""
SELECT t.id, t.queue, t.attempt, t.max_attempts, t.worker_id, UTC_TIMESTAMP(6)
  FROM {HELD} STRAIGHT_JOIN pgtask_tasks t ON t.id = i.id AND t.lease_token = i.token
 WHERE t.state = 'running'
   FOR UPDATE
"""

LOCK_EXPIRED = """
SELECT id, queue, attempt, max_attempts, worker_id
  FROM pgtask_tasks
 WHERE state = 'running' AND lease_expires_at < %s
 ORDER BY id
   FOR UPDATE SKIP LOCKED
"""

LOCK_TASK = "SELECT id, UTC_TIMESTAMP(6) FROM pgtask_tasks WHERE id = %s FOR UPDATE"

RETRY_POLICIES = """
SELECT name, max_attempts, min_backoff, max_backoff, max_doublings, backoff_jitter
  FROM pgtask_queues WHERE name IN ({names})
"""

# Finished tasks leave the hot table in the transaction that finishes them.
ARCHIVE = f"""
INSERT INTO pgtask_task_history (id, queue, task_type, payload, state, priority, run_at,
  attempt, max_attempts, idempotency_key, target_url, worker_id, created_at, started_at,
  attempted_at, finished_at, errors, result, message)
SELECT t.id, t.queue, t.task_type, t.payload, i.state, t.priority, t.run_at, t.attempt,
       t.max_attempts, t.idempotency_key, t.target_url, t.worker_id, t.created_at,
       t.started_at, t.attempted_at, %s,
       IF(i.entry IS NULL, t.errors, {APPEND_ERROR}), i.result, i.message
  FROM {TRANSITIONS} STRAIGHT_JOIN pgtask_tasks t ON t.id = i.id
 WHERE i.state <> 'queued'
"""

DELETE_ARCHIVED = f"""
DELETE t FROM {TRANSITIONS} STRAIGHT_JOIN pgtask_tasks t ON t.id = i.id
 WHERE i.state <> 'queued'
"""

REQUEUE = f"""
UPDATE {TRANSITIONS} STRAIGHT_JOIN pgtask_tasks t ON t.id = i.id
   SET t.state = 'queued', t.run_at = i.run_at, t.lease_token = NULL,
       t.lease_expires_at = NULL, t.worker_id = NULL, t.attempt = t.attempt - i.refund,
       t.errors = IF(i.entry IS NULL, t.errors, {APPEND_ERROR})
 WHERE i.state = 'queued'
"""

APPEND_LOGS = f"""
INSERT INTO pgtask_task_logs (task_id, attempt, at, level, message)
SELECT i.task_id, i.attempt, i.at, i.level, i.message FROM {LOG_LINES}
"""

# Presumed dead after three of the longest leases, a minute at least (pgtask.rescue_tasks's
# rule). Leases are DOUBLE seconds, hence microseconds as in EXTEND_LEASES. %s: the db's now.
FORGET_SILENT_WORKERS = """
DELETE FROM pgtask_workers WHERE heartbeat_at < %s - INTERVAL ROUND(1000000 * GREATEST(60,
  3 * (SELECT COALESCE(MAX(lease), 0) FROM pgtask_queues))) MICROSECOND
"""

# -- heartbeat and workers ---------------------------------------------------------------

TOUCH_WORKER = """
UPDATE pgtask_workers SET heartbeat_at = UTC_TIMESTAMP(6), in_flight = %s WHERE id = %s
"""

# A run past its queue's max_run_time (q: its queue row, t: the task).
PAST_MAX_RUN_TIME = """q.max_run_time IS NOT NULL
   AND t.attempted_at + INTERVAL ROUND(1000000 * q.max_run_time) MICROSECOND < UTC_TIMESTAMP(6)"""

# Overdue runs are not extended: they leave the matched count short, and heartbeat fails them.
EXTEND_LEASES = f"""
UPDATE {HELD} STRAIGHT_JOIN pgtask_tasks t ON t.id = i.id AND t.lease_token = i.token
   SET t.lease_expires_at = UTC_TIMESTAMP(6) + INTERVAL ROUND(1000000 *
       (SELECT q.lease FROM pgtask_queues q WHERE q.name = t.queue)) MICROSECOND
 WHERE t.state = 'running'
   AND NOT EXISTS (SELECT 1 FROM pgtask_queues q WHERE q.name = t.queue AND {PAST_MAX_RUN_TIME})
"""

# Unstuck: held runs older than their queue's max_run_time, which heartbeat fails.
OVERDUE = f"""
SELECT t.id, t.lease_token, t.queue, q.max_run_time
  FROM {HELD} STRAIGHT_JOIN pgtask_tasks t ON t.id = i.id AND t.lease_token = i.token
  JOIN pgtask_queues q ON q.name = t.queue
 WHERE t.state = 'running' AND {PAST_MAX_RUN_TIME}
"""

STILL_HELD = f"""
SELECT t.id FROM {HELD} STRAIGHT_JOIN pgtask_tasks t ON t.id = i.id AND t.lease_token = i.token
 WHERE t.state = 'running'
"""

REGISTER_WORKER = """
INSERT INTO pgtask_workers (id, host, pid, queues, task_types, concurrency, started_at,
                            heartbeat_at)
VALUES (%s, %s, %s, %s, %s, %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))
ON DUPLICATE KEY UPDATE host = VALUES(host), pid = VALUES(pid), queues = VALUES(queues),
  task_types = VALUES(task_types), concurrency = VALUES(concurrency),
  heartbeat_at = VALUES(heartbeat_at)
"""

DEREGISTER_WORKER = "DELETE FROM pgtask_workers WHERE id = %s"

# -- operations --------------------------------------------------------------------------

LOCK_FINISHED = """
SELECT id, queue FROM pgtask_task_history
 WHERE id = %s AND state IN ('dead', 'cancelled')
   FOR UPDATE
"""
REVIVE = """
INSERT INTO pgtask_tasks (id, queue, task_type, payload, priority, run_at, attempt,
                          max_attempts, idempotency_key, target_url, created_at, errors)
SELECT id, queue, task_type, payload, priority, UTC_TIMESTAMP(6), 0, max_attempts,
       idempotency_key, target_url, created_at, errors
  FROM pgtask_task_history WHERE id = %s
"""
FORGET_FINISHED = "DELETE FROM pgtask_task_history WHERE id = %s"

PRUNE_CUTOFF = "SELECT UTC_TIMESTAMP(6) - INTERVAL %s MICROSECOND"
# Pruning in batches (store/pruning.py), each its own transaction: the oldest expired rows
# by task_history_finished_at, locked so a concurrent retry or pruner leaves them to us.
PRUNE_BATCH_IDS = """
SELECT id FROM pgtask_task_history WHERE finished_at < %s
 ORDER BY finished_at LIMIT %s
   FOR UPDATE SKIP LOCKED
"""
PRUNE_KEYS = """
DELETE k FROM pgtask_task_history h
  JOIN pgtask_idempotency_keys k
    ON k.queue = h.queue AND k.`key` = h.idempotency_key AND k.task_id = h.id
 WHERE h.id IN %s
"""
PRUNE_LOGS = "DELETE FROM pgtask_task_logs WHERE task_id IN %s"
PRUNE_HISTORY = "DELETE FROM pgtask_task_history WHERE id IN %s"

# Session-scoped named lock: one maintainer per database at a time; 0 = do not wait. Lock
# names are server-wide and at most 64 characters, hence the digest of the database name.
TRY_MAINTENANCE_LOCK = "SELECT GET_LOCK(CONCAT('pgtask.maintain.', MD5(DATABASE())), 0)"
RELEASE_MAINTENANCE_LOCK = "DO RELEASE_LOCK(CONCAT('pgtask.maintain.', MD5(DATABASE())))"

# Store connections: READ COMMITTED like Postgres, which also keeps InnoDB from taking
# gap locks during claims (they would block concurrent enqueues).
SESSION_SETUP = ("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",)


def one(cur: Cursor) -> tuple[Any, ...]:
    """The row of a statement that always returns one (a clock, a lock, a count)."""
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("expected one row, got none")
    return row


def in_list(n: int) -> str:
    """The placeholders of an IN (...) list of n values."""
    if n < 1:
        raise ValueError("an IN list needs at least one value")
    return ", ".join(["%s"] * n)
