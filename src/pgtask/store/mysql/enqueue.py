"""Enqueueing on MySQL: on the store's connections or inside a caller's own transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from pymysql.cursors import Cursor

from pgtask.models import EnqueueRequest
from pgtask.store.mysql import sql as q
from pgtask.store.mysql.rules import payload_json, sql_time

MAX_ROWS_PER_INSERT = 1000
MAX_BYTES_PER_INSERT = 4 * 1024 * 1024  # well under max_allowed_packet (16 MiB by default)


def enqueue_on(conn, requests: Sequence[EnqueueRequest]) -> list[int]:
    """Enqueue on the caller's own PyMySQL connection, inside its open transaction.

    The tasks exist exactly when that transaction commits. On an autocommit connection the
    call runs in a transaction of its own. Returns the ids in request order; a request
    whose (queue, idempotency_key) is taken gets the existing task's id.
    """
    if not requests:
        return []
    payloads = [payload_json(r) for r in requests]  # refuse a bad batch before writing
    own_transaction = conn.get_autocommit()
    if own_transaction:
        conn.begin()
    try:
        with conn.cursor(Cursor) as cur:
            ids = _enqueue(cur, requests, payloads)
        if own_transaction:
            conn.commit()
        return ids
    except BaseException:
        if own_transaction:
            conn.rollback()
        raise


def _enqueue(cur, requests: Sequence[EnqueueRequest], payloads: list[str]) -> list[int]:
    ensure_queues(cur, {r.queue for r in requests})
    ids: list[int] = [0] * len(requests)
    plain = [i for i, r in enumerate(requests) if r.idempotency_key is None]
    for chunk in _chunks(plain, payloads):
        for i, task_id in zip(chunk, _insert_tasks(cur, [(requests[i], payloads[i]) for i in chunk])):
            ids[i] = task_id
    for i, request in enumerate(requests):
        if request.idempotency_key is not None:
            ids[i] = _enqueue_keyed(cur, request, payloads[i])
    return ids


def _enqueue_keyed(cur, request: EnqueueRequest, payload: str) -> int:
    key = (request.queue, request.idempotency_key)
    if cur.execute(q.CLAIM_KEY, key) == 0:
        cur.execute(q.KEY_OWNER, key)
        return cur.fetchone()[0]
    task_id = _insert_tasks(cur, [(request, payload)])[0]
    cur.execute(q.SET_KEY_OWNER, (task_id, *key))
    return task_id


def ensure_queues(cur, names: Iterable[str]) -> None:
    names = sorted(set(names))
    cur.execute(q.KNOWN_QUEUES.format(names=q.in_list(len(names))), names)
    known = {row[0] for row in cur.fetchall()}
    for name in names:
        if name not in known:
            cur.execute(q.ADD_QUEUE, (name,))


def _chunks(indexes: list[int], payloads: list[str]) -> Iterable[list[int]]:
    """Split a multi-row INSERT so no statement nears max_allowed_packet."""
    chunk, size = [], 0
    for i in indexes:
        if chunk and (len(chunk) >= MAX_ROWS_PER_INSERT or size + len(payloads[i]) > MAX_BYTES_PER_INSERT):
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += len(payloads[i])
    if chunk:
        yield chunk


def _insert_tasks(cur, rows: list[tuple[EnqueueRequest, str]]) -> list[int]:
    """One multi-row INSERT; returns the new ids in row order.

    InnoDB hands a multi-row INSERT ... VALUES ("simple insert") its ids as one block under
    every innodb_autoinc_lock_mode, so they are consecutive, auto_increment_increment apart
    (more than 1 on Galera and multi-primary setups).
    """
    args: list = []
    for r, payload in rows:
        args += [r.queue, r.task_type, payload, r.priority,
                 None if r.run_at is None else sql_time(r.run_at),
                 None if r.delay is None else r.delay // timedelta(microseconds=1),
                 r.idempotency_key, r.max_attempts, r.target_url]
    cur.execute(q.INSERT_TASKS.format(rows=", ".join([q.TASK_ROW] * len(rows))), args)
    first = cur.lastrowid
    step = 1
    if len(rows) > 1:
        cur.execute(q.AUTO_INCREMENT_STEP)
        step = cur.fetchone()[0]
    return [first + n * step for n in range(len(rows))]
