"""NOTIFY goes only to queues that some waiting worker serves; busy workers are not woken."""

from __future__ import annotations

import psycopg
import pytest

from .helpers import claim, enqueue, finish, notifications_until_sentinel, set_queue


@pytest.fixture
def listener(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("listen pgtask")
        yield conn


def worker(db, worker_id: str, queues: list[str] | None, waiting: bool) -> None:
    db.execute("select pgtask.register_worker(%s, 'test', 1, %s, null, 1)", (worker_id, queues))
    db.execute("select pgtask.set_worker_waiting(%s, %s)", (worker_id, waiting))


def test_no_waiting_worker_means_no_notify(listener, db):
    worker(db, "busy", None, waiting=False)
    enqueue(db, queue="emails")
    assert notifications_until_sentinel(listener, db, "pgtask") == []


def test_a_waiting_worker_of_the_queue_is_notified(listener, db):
    worker(db, "emails-worker", ["emails"], waiting=True)
    enqueue(db, queue="emails")
    enqueue(db, queue="sms")  # nobody waits on sms
    assert notifications_until_sentinel(listener, db, "pgtask") == ["emails"]


def test_a_waiting_worker_of_every_queue_is_notified_of_each(listener, db):
    worker(db, "all", None, waiting=True)
    enqueue(db, queue="emails")
    enqueue(db, queue="sms")
    assert notifications_until_sentinel(listener, db, "pgtask") == ["emails", "sms"]


def test_set_worker_waiting_writes_only_on_change(db):
    worker(db, "w", None, waiting=True)
    xmin = db.execute("select xmin::text as x from pgtask.workers where id = 'w'").fetchone()["x"]
    db.execute("select pgtask.set_worker_waiting('w', true)")
    again = db.execute("select xmin::text as x from pgtask.workers where id = 'w'").fetchone()["x"]
    assert again == xmin


def test_a_finish_that_frees_a_limited_slot_wakes_the_waiting_workers(listener, db):
    """finish_tasks NOTIFYs a concurrency-limited queue (a worker turned away by the limit
    waits for this), not a queue without a limit."""
    set_queue(db, "lim", concurrency_limit=1)
    enqueue(db, queue="lim")
    enqueue(db, queue="free")
    held = claim(db, ["lim"]) + claim(db, ["free"])
    worker(db, "w2", None, waiting=True)
    notifications_until_sentinel(listener, db)
    finish(db, [t["id"] for t in held], [t["lease_token"] for t in held], ["succeeded", "failed"])
    assert notifications_until_sentinel(listener, db) == ["lim"]


def test_a_stale_finish_frees_no_slot_and_wakes_nobody(listener, db):
    set_queue(db, "lim", concurrency_limit=1)
    enqueue(db, queue="lim")
    [task] = claim(db, ["lim"])
    assert finish(db, [task["id"]], [task["lease_token"]], ["succeeded"])
    worker(db, "w2", ["lim"], waiting=True)
    notifications_until_sentinel(listener, db)
    assert finish(db, [task["id"]], [task["lease_token"]], ["succeeded"]) == {}
    assert notifications_until_sentinel(listener, db) == []


def test_a_freed_slot_wakes_only_workers_of_that_queue(listener, db):
    set_queue(db, "lim", concurrency_limit=1)
    enqueue(db, queue="lim")
    [task] = claim(db, ["lim"])
    worker(db, "w2", ["other"], waiting=True)
    notifications_until_sentinel(listener, db)
    finish(db, [task["id"]], [task["lease_token"]], ["released"])
    assert notifications_until_sentinel(listener, db) == []
