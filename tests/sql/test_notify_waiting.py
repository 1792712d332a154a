"""NOTIFY goes only to queues that some waiting worker serves; busy workers are not woken."""

from __future__ import annotations

import psycopg
import pytest

from .helpers import enqueue, notifications_until_sentinel


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
