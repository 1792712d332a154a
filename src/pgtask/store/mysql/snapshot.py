"""store/postgres/top.py's top_rows for MySQL/MariaDB: the rows of one `pgtask top` frame.

The same queries as Postgres's (QUEUES, EVENTS, WORKERS), in one read-only transaction with
a consistent snapshot; the database's clock is read first and passed to the others, as
Postgres's now() is fixed for its transaction. PyMySQL cannot pipeline, so a refresh is one
round trip per statement: 9 in all (transaction, clock, 3 queries, 2 for health, rollback).
Measured on MariaDB 10.11 with 1,000,000 history rows (a week's) and 1,000 hot ones: about
30 ms a refresh, most of it "dead in the last hour", which reads the last hour of history
through task_history_finished_at (Postgres has a partial index of dead rows for it).

Instead of Postgres's health row (dead tuples, the xmin horizon, NOTIFY) the "mysql_health"
row holds InnoDB's equivalents: the purge history list length and the oldest open
transaction, which holds purge back (console/health_mysql.py renders them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pymysql
from pymysql.connections import Connection

from pgtask.errors import DatabaseUnavailable
from pgtask.store.base import Row
from pgtask.store.mysql.errors import is_lost
from pgtask.store.mysql.inspect import fetch
from pgtask.store.mysql.rules import sql_time

SNAPSHOT_TRANSACTION = ("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

# Null %(now)s means the database clock; tests pass a fixed instant. Windows over finished
# work end one second back (until), as on Postgres (see store/postgres/top.py UNTIL).
TOP_CLOCK = """
SELECT c.at, c.at - INTERVAL 1 SECOND AS until
  FROM (SELECT COALESCE(CAST(%(now)s AS DATETIME(6)), UTC_TIMESTAMP(6)) AS at) AS c
"""
NOW = "CAST(%(now)s AS DATETIME(6))"
UNTIL = "CAST(%(until)s AS DATETIME(6))"
EPOCH = "'1970-01-01'"  # seconds since it, whatever the session's time zone

# Each error entry's time, per task: its "at" is ISO 8601 in UTC ("2030-01-01T12:00:00.5+00:00",
# see rules.error_entry), read here as a DATETIME. {source} is a table of tasks.
ERROR_TIMES = """(SELECT s.queue,
        CAST(REPLACE(SUBSTRING_INDEX(j.at_text, '+', 1), 'T', ' ') AS DATETIME(6)) AS at
   FROM {source} s, JSON_TABLE(s.errors, '$[*]' COLUMNS (at_text VARCHAR(64) PATH '$.at')) AS j
  WHERE JSON_LENGTH(s.errors) > 0) AS e"""

TOP_QUEUES = f"""
SELECT q.name, q.paused, q.concurrency_limit, q.rate_limit, q.rate_burst, q.target_url,
       COALESCE(h.queued, 0) AS queued, COALESCE(h.scheduled, 0) AS scheduled,
       COALESCE(h.running, 0) AS running,
       TIMESTAMPDIFF(MICROSECOND, h.oldest_ready, {NOW}) / 1e6 AS lag,
       COALESCE(r.failed_10s, 0) AS failed_10s, COALESCE(r.failed_1m, 0) AS failed_1m,
       COALESCE(r.failed_5m, 0) AS failed_5m, COALESCE(d.dead_1h, 0) AS dead_1h
  FROM pgtask_queues q
  LEFT JOIN (
    SELECT t.queue,
           SUM(t.state = 'queued' AND t.run_at <= {NOW}) AS queued,
           SUM(t.state = 'queued' AND t.run_at > {NOW}) AS scheduled,
           SUM(t.state = 'running') AS running,
           MIN(IF(t.state = 'queued' AND t.run_at <= {NOW}, t.run_at, NULL)) AS oldest_ready
      FROM pgtask_tasks t GROUP BY t.queue) AS h ON h.queue = q.name
  LEFT JOIN (
    SELECT e.queue,
           SUM(e.at > {UNTIL} - INTERVAL 10 SECOND) AS failed_10s,
           SUM(e.at > {UNTIL} - INTERVAL 1 MINUTE) AS failed_1m, COUNT(*) AS failed_5m
      FROM {ERROR_TIMES.format(source="pgtask_tasks")}
     WHERE e.at > {UNTIL} - INTERVAL 5 MINUTE AND e.at <= {UNTIL}
     GROUP BY e.queue) AS r ON r.queue = q.name
  LEFT JOIN (
    SELECT queue, COUNT(*) AS dead_1h FROM pgtask_task_history
     WHERE state = 'dead' AND finished_at > {NOW} - INTERVAL 1 HOUR
     GROUP BY queue) AS d ON d.queue = q.name
 ORDER BY q.name
"""

# (kind, queue, at, n, wait) rows, as on Postgres: see store/postgres/top.py TOP_EVENTS.
RECENT = f"""
SELECT h.queue, h.state, h.finished_at, h.attempted_at, h.run_at, h.errors
  FROM pgtask_task_history h
 WHERE h.finished_at > GREATEST(COALESCE(CAST(%(since)s AS DATETIME(6)), '1970-01-01'),
                                {UNTIL} - INTERVAL 5 MINUTE)
   AND h.finished_at <= {UNTIL}
"""
TOP_EVENTS = f"""
WITH recent AS ({RECENT})
SELECT 'done' AS kind, r.queue, TIMESTAMPDIFF(SECOND, {EPOCH}, r.finished_at) AS at,
       COUNT(*) AS n, NULL AS wait
  FROM recent r WHERE r.state = 'succeeded'
 GROUP BY r.queue, 3
UNION ALL
SELECT 'failed', e.queue, TIMESTAMPDIFF(SECOND, {EPOCH}, e.at), COUNT(*), NULL
  FROM {ERROR_TIMES.format(source="recent")}
 WHERE e.at > {UNTIL} - INTERVAL 5 MINUTE
 GROUP BY e.queue, 3
UNION ALL
SELECT 'pickup', r.queue, TIMESTAMPDIFF(MICROSECOND, {EPOCH}, r.attempted_at) / 1e6, 1,
       TIMESTAMPDIFF(MICROSECOND, r.run_at, r.attempted_at) / 1e6
  FROM recent r WHERE r.attempted_at > {UNTIL} - INTERVAL 1 MINUTE
UNION ALL
SELECT 'running', t.queue, TIMESTAMPDIFF(MICROSECOND, {EPOCH}, t.attempted_at) / 1e6, 1,
       TIMESTAMPDIFF(MICROSECOND, t.run_at, t.attempted_at) / 1e6
  FROM pgtask_tasks t
 WHERE t.state = 'running' AND t.attempted_at > {UNTIL} - INTERVAL 1 MINUTE
   AND t.attempted_at <= {UNTIL}
"""

# Why a queue lags, per task type with tasks ready now (as Postgres's TOP_TYPES).
TOP_TYPES = f"""
SELECT r.queue, r.task_type, r.ready,
       EXISTS (SELECT 1 FROM pgtask_task_types d WHERE d.name = r.task_type) AS registered,
       EXISTS (SELECT 1 FROM pgtask_workers w
                WHERE w.heartbeat_at > {NOW} - INTERVAL 30 SECOND
                  AND (w.queues IS NULL OR JSON_CONTAINS(w.queues, JSON_QUOTE(r.queue)))
                  AND (w.task_types IS NULL OR r.http
                       OR JSON_CONTAINS(w.task_types, JSON_QUOTE(r.task_type)))) AS served
  FROM (SELECT t.queue, t.task_type, COUNT(*) AS ready,
               MAX(t.target_url IS NOT NULL OR q.target_url IS NOT NULL) AS http
          FROM pgtask_tasks t LEFT JOIN pgtask_queues q ON q.name = t.queue
         WHERE t.state = 'queued' AND t.run_at <= {NOW}
         GROUP BY t.queue, t.task_type) AS r
 ORDER BY r.queue, r.task_type
 LIMIT 500
"""

TOP_WORKERS = """
SELECT w.id, w.host, w.pid, w.queues, w.task_types, w.concurrency, w.in_flight,
       w.started_at, w.heartbeat_at
  FROM pgtask_workers w
 ORDER BY w.host, w.pid, w.id
"""

# Purge is server-wide: a transaction open in any database keeps InnoDB from purging the
# old row versions every claim and finish leaves behind. Both views need PROCESS.
HISTORY_LENGTH = """
SELECT `COUNT` AS history_length FROM information_schema.INNODB_METRICS
 WHERE NAME = 'trx_rseg_history_len'
"""
OLDEST_TRANSACTION = """
SELECT x.trx_mysql_thread_id AS thread_id, x.trx_state AS state,
       TIMESTAMPDIFF(MICROSECOND, x.trx_started, NOW(6)) / 1e6 AS seconds,
       CONCAT_WS(', ', IF(p.COMMAND = 'Sleep', 'idle in transaction', LOWER(p.COMMAND)),
                 CONCAT(p.USER, '@', SUBSTRING_INDEX(p.HOST, ':', 1))) AS detail
  FROM information_schema.INNODB_TRX x
  LEFT JOIN information_schema.PROCESSLIST p ON p.ID = x.trx_mysql_thread_id
 WHERE x.trx_mysql_thread_id <> CONNECTION_ID()
 ORDER BY x.trx_started, x.trx_id
 LIMIT 1
"""
ER_NEEDS_PRIVILEGE = {1227, 1142, 1044}  # access denied (PROCESS, table, database)

TOP_QUERIES = {"queues": TOP_QUEUES, "events": TOP_EVENTS, "workers": TOP_WORKERS,
               "types": TOP_TYPES}


def _health(conn: Connection[Any]) -> Row:
    """The "mysql_health" row; available=False when the account may not read InnoDB's views."""
    try:
        history = fetch(conn, HISTORY_LENGTH)
        oldest = fetch(conn, OLDEST_TRANSACTION)
    except pymysql.err.OperationalError as exc:
        if exc.args[0] not in ER_NEEDS_PRIVILEGE:
            raise
        return {"available": False, "history_length": None, "oldest_transaction": None}
    return {"available": True,
            "history_length": history[0]["history_length"] if history else None,
            "oldest_transaction": oldest[0] if oldest else None}


def top_rows(conn: Connection[Any], *, since: datetime | None = None,
             now: datetime | None = None) -> dict[str, list[Row]]:
    """Everything one `top` frame needs, as rows keyed by query name (as on Postgres).

    `conn`: a schema.connect connection. A lost connection is DatabaseUnavailable ("MySQL
    connection lost: ..."), which the live console shows and retries.
    """
    try:
        with conn.cursor() as cur:
            for statement in SNAPSHOT_TRANSACTION:
                cur.execute(statement)
        try:
            clock = fetch(conn, TOP_CLOCK, {"now": now and sql_time(now)})
            params = {"now": sql_time(clock[0]["at"]), "until": sql_time(clock[0]["until"]),
                      "since": since and sql_time(since)}
            rows = {name: fetch(conn, query, params) for name, query in TOP_QUERIES.items()}
            rows["mysql_health"] = [_health(conn)]
        finally:
            conn.rollback()  # read only: nothing to keep, the snapshot is released
    except pymysql.err.MySQLError as exc:
        if is_lost(exc):
            reason = str(exc) or type(exc).__name__
            raise DatabaseUnavailable(f"MySQL connection lost: {reason}") from exc
        raise
    return {"clock": clock, **rows}
