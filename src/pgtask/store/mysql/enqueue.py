"""Enqueueing on MySQL: on the store's connections or inside a caller's own transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from pymysql.connections import Connection
from pymysql.cursors import Cursor

from pgtask.models import EnqueueRequest
from pgtask.store.mysql.rules import payload_json, sql_time
from pgtask.store.mysql.sql import in_list, one
from pgtask.store.mysql.task_types import with_type_defaults

MAX_ROWS_PER_INSERT = 1000
MAX_BYTES_PER_INSERT = 4 * 1024 * 1024  # well under max_allowed_packet (16 MiB by default)

# A plain read first: INSERT IGNORE on an existing row takes a shared lock on it until the
# caller commits, and claimers of a rate-limited queue need that row's exclusive lock.
KNOWN_QUEUES = "SELECT name FROM pgtask_queues WHERE name IN ({names})"
ADD_QUEUE = "INSERT IGNORE INTO pgtask_queues (name) VALUES (%s)"

INSERT_TASKS = """
INSERT INTO pgtask_tasks (queue, task_type, payload, priority, run_at, idempotency_key,
                          max_attempts, target_url, trace_context)
VALUES {rows}
"""
# run_at: the given moment, else the database's now plus the delay (microseconds, or 0).
TASK_ROW = """(%s, %s, %s, %s,
  COALESCE(%s, UTC_TIMESTAMP(6) + INTERVAL COALESCE(%s, 0) MICROSECOND), %s, %s, %s, %s)"""

# The key's primary key settles races: a concurrent caller waits on the winner's row, and
# once the winner commits its INSERT IGNORE does nothing; the locking read then sees the
# winner's row even under REPEATABLE READ, whatever snapshot the caller's transaction holds.
CLAIM_KEY = """
INSERT IGNORE INTO pgtask_idempotency_keys (queue, `key`, task_id) VALUES (%s, %s, 0)
"""
KEY_OWNER = """
SELECT task_id FROM pgtask_idempotency_keys WHERE queue = %s AND `key` = %s LOCK IN SHARE MODE
"""
AUTO_INCREMENT_STEP = "SELECT @@auto_increment_increment"
SET_KEY_OWNER = "UPDATE pgtask_idempotency_keys SET task_id = %s WHERE queue = %s AND `key` = %s"


def enqueue_on(conn: Connection[Any], requests: Sequence[EnqueueRequest]) -> list[int]:
    """Enqueue on the caller's own PyMySQL connection, inside its open transaction.

    The tasks exist exactly when that transaction commits. On an autocommit connection the
    call runs in a transaction of its own. Returns the ids in request order; a request
    whose (queue, idempotency_key) is taken gets the existing task's id.
    """
    if not requests:
        return []
    own_transaction = conn.get_autocommit()
    if own_transaction:
        conn.begin()
    try:
        with conn.cursor(Cursor) as cur:
            requests = with_type_defaults(cur, requests)
            payloads = [payload_json(r) for r in requests]  # refuse a bad batch before writing
            ids = _enqueue(cur, requests, payloads)
        if own_transaction:
            conn.commit()
        return ids
    except BaseException:
        if own_transaction:
            conn.rollback()
        raise


def _enqueue(cur: Cursor, requests: Sequence[EnqueueRequest], payloads: list[str]) -> list[int]:
    ensure_queues(cur, {r.queue or "default" for r in requests})
    ids: list[int] = [0] * len(requests)
    plain = [i for i, r in enumerate(requests) if r.idempotency_key is None]
    for chunk in _chunks(plain, payloads):
        rows = [(requests[i], payloads[i]) for i in chunk]
        for i, task_id in zip(chunk, _insert_tasks(cur, rows), strict=True):
            ids[i] = task_id
    for i, request in enumerate(requests):
        if request.idempotency_key is not None:
            ids[i] = _enqueue_keyed(cur, request, payloads[i])
    return ids


def _enqueue_keyed(cur: Cursor, request: EnqueueRequest, payload: str) -> int:
    key = (request.queue, request.idempotency_key)
    if cur.execute(CLAIM_KEY, key) == 0:
        cur.execute(KEY_OWNER, key)
        owner: int = one(cur)[0]
        return owner
    task_id = _insert_tasks(cur, [(request, payload)])[0]
    cur.execute(SET_KEY_OWNER, (task_id, *key))
    return task_id


def ensure_queues(cur: Cursor, names: Iterable[str]) -> None:
    wanted = sorted(set(names))
    cur.execute(KNOWN_QUEUES.format(names=in_list(len(wanted))), wanted)
    known = {row[0] for row in cur.fetchall()}
    for name in wanted:
        if name not in known:
            cur.execute(ADD_QUEUE, (name,))


def _chunks(indexes: list[int], payloads: list[str]) -> Iterator[list[int]]:
    """Split a multi-row INSERT so no statement nears max_allowed_packet."""
    chunk: list[int] = []
    size = 0
    for i in indexes:
        if chunk and (len(chunk) >= MAX_ROWS_PER_INSERT
                      or size + len(payloads[i]) > MAX_BYTES_PER_INSERT):
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += len(payloads[i])
    if chunk:
        yield chunk


def _insert_tasks(cur: Cursor, rows: list[tuple[EnqueueRequest, str]]) -> list[int]:
    """One multi-row INSERT; returns the new ids in row order.

    InnoDB hands a multi-row INSERT ... VALUES ("simple insert") its ids as one block under
    every innodb_autoinc_lock_mode, so they are consecutive, auto_increment_increment apart
    (more than 1 on Galera and multi-primary setups).
    """
    args: list[object] = []
    for r, payload in rows:
        args += [r.queue, r.task_type, payload, r.priority,
                 None if r.run_at is None else sql_time(r.run_at),
                 None if r.delay is None else r.delay // timedelta(microseconds=1),
                 r.idempotency_key, r.max_attempts, r.target_url,
                 None if r.trace_context is None else json.dumps(dict(r.trace_context))]
    cur.execute(INSERT_TASKS.format(rows=", ".join([TASK_ROW] * len(rows))), args)
    first = cur.lastrowid
    step = 1
    if len(rows) > 1:
        cur.execute(AUTO_INCREMENT_STEP)
        step = int(one(cur)[0])
    return [first + n * step for n in range(len(rows))]
