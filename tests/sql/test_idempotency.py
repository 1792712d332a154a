"""Idempotency keys: one task per (queue, key), under races, rollbacks, retries and pruning."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg.rows import dict_row

from tests.support.waiting import wait_until

from .helpers import claim, count, enqueue, fail, hot_row, retry, task

RACERS = 20


def connect(dsn: str, autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=autocommit, row_factory=dict_row)


def test_twenty_concurrent_enqueues_with_one_key_make_one_task(dsn, db):
    conns = [connect(dsn) for _ in range(RACERS)]
    barrier = threading.Barrier(RACERS)

    def race(conn: psycopg.Connection) -> int:
        barrier.wait(timeout=30)
        return enqueue(conn, "charge.card", {"order": 7}, key="order-7")

    try:
        with ThreadPoolExecutor(RACERS) as pool:
            ids = list(pool.map(race, conns))
    finally:
        for conn in conns:
            conn.close()
    assert len(set(ids)) == 1, ids
    assert count(db, "tasks") == 1 and count(db, "idempotency_keys") == 1
    assert hot_row(db, ids[0])["idempotency_key"] == "order-7"


def test_the_same_key_in_another_queue_is_another_task(db):
    assert enqueue(db, key="k", queue="a") != enqueue(db, key="k", queue="b")
    assert count(db, "tasks") == 2


def waiting_on_a_lock(db, pid: int) -> bool:
    row = db.execute("select wait_event_type from pg_stat_activity where pid = %s",
                     (pid,)).fetchone()
    return row is not None and row["wait_event_type"] == "Lock"


def test_rollback_of_the_first_holder_lets_the_next_caller_win(dsn, db):
    with connect(dsn, autocommit=False) as first, connect(dsn) as second:
        doomed = enqueue(first, key="k")
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(enqueue, second, "t", {"n": 2}, "default", None, 0, "k")
            # The second caller waits on the first one's uncommitted key...
            wait_until(lambda: waiting_on_a_lock(db, second.info.backend_pid),
                       message="the second enqueue to block on the key")
            first.rollback()
            winner = pending.result(timeout=30)
    # ...and, once it is rolled back, inserts its own task.
    assert winner != doomed
    assert hot_row(db, doomed) is None
    assert hot_row(db, winner)["payload"] == {"n": 2}
    assert count(db, "tasks") == 1
    assert enqueue(db, key="k") == winner


def test_commit_of_the_first_holder_gives_the_waiter_its_id(dsn, db):
    with connect(dsn, autocommit=False) as first, connect(dsn) as second:
        first_id = enqueue(first, key="k")
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(enqueue, second, "t", {}, "default", None, 0, "k")
            wait_until(lambda: waiting_on_a_lock(db, second.info.backend_pid),
                       message="the second enqueue to block on the key")
            first.commit()
            assert pending.result(timeout=30) == first_id
    assert count(db, "tasks") == 1


def test_key_keeps_naming_a_finished_task(db):
    task_id = enqueue(db, key="k")
    [row] = claim(db)
    db.execute("select pgtask.complete_task(%s, %s)", (task_id, row["lease_token"]))
    assert task(db, task_id)["state"] == "succeeded"
    assert enqueue(db, key="k") == task_id
    assert count(db, "tasks") == 0


def test_retry_task_keeps_the_id_and_the_key(db):
    task_id = enqueue(db, key="k", max_attempts=1)
    [row] = claim(db)
    fail(db, task_id, row["lease_token"], "boom")
    assert task(db, task_id)["state"] == "dead"
    assert retry(db, task_id)
    revived = hot_row(db, task_id)
    assert (revived["idempotency_key"], revived["state"]) == ("k", "queued")
    assert [e["error"] for e in revived["errors"]] == ["boom"]  # history of errors kept
    assert enqueue(db, key="k") == task_id
    key = db.execute("select task_id from pgtask.idempotency_keys").fetchone()
    assert key["task_id"] == task_id
