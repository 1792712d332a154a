"""NOTIFY: transactional, one per queue per statement, silenced on request, cancel signals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

from .helpers import (
    cancel,
    claim,
    count,
    enqueue,
    enqueue_many,
    notifications_until_sentinel,
    retry,
)

BULK = 10_000


@pytest.fixture
def tx(dsn) -> Iterator[psycopg.Connection]:
    """A connection whose transactions the test commits or rolls back itself."""
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        yield conn


def heard(listener, db, channel="pgtask") -> list[str]:
    return notifications_until_sentinel(listener, db, channel)


def test_committed_enqueue_notifies_its_queue(listener, db):
    enqueue(db, queue="emails")
    assert heard(listener, db) == ["emails"]


def test_rolled_back_enqueue_leaves_no_row_and_no_notify(listener, db, tx):
    enqueue(tx, queue="emails")
    enqueue_many(tx, ["a", "b"], queues=["emails", "sms"])
    assert count(tx, "tasks") == 3  # visible inside the transaction...
    tx.rollback()
    assert count(db, "tasks") == 0  # ...and gone with it
    assert heard(listener, db) == []


def test_notify_is_sent_at_commit_not_before(listener, db, tx):
    enqueue(tx, queue="emails")
    assert heard(listener, db) == []
    tx.commit()
    assert heard(listener, db) == ["emails"]


def test_ten_thousand_tasks_in_one_statement_send_one_notify(listener, db):
    ids = enqueue_many(db, ["bulk.item"] * BULK, queues=["bulk"] * BULK)
    assert len(ids) == BULK and count(db, "tasks") == BULK
    assert heard(listener, db) == ["bulk"]


def test_mixed_queues_send_one_notify_per_queue(listener, db):
    queues = ["a", "b", "c", None] * (BULK // 4)
    enqueue_many(db, ["t"] * BULK, queues=queues)
    assert Counter(heard(listener, db)) == Counter({"a": 1, "b": 1, "c": 1, "default": 1})


def test_many_single_enqueues_in_one_transaction_send_one_notify(listener, db, tx):
    for _ in range(50):
        enqueue(tx, queue="emails")
    enqueue(tx, queue="sms")
    tx.commit()
    assert Counter(heard(listener, db)) == Counter({"emails": 1, "sms": 1})


def test_notify_off_silences_the_transaction(listener, db, tx):
    tx.execute("set local pgtask.notify = 'off'")
    enqueue_many(tx, ["t"] * BULK, queues=["bulk"] * BULK)
    enqueue(tx, queue="emails")
    tx.commit()
    assert count(db, "tasks") == BULK + 1
    assert heard(listener, db) == []
    # SET LOCAL ends with its transaction: the next enqueue notifies again.
    enqueue(tx, queue="emails")
    tx.commit()
    assert heard(listener, db) == ["emails"]


def test_future_tasks_do_not_notify(listener, db):
    later = db.execute("select now() + interval '1 hour' as t").fetchone()["t"]
    enqueue(db, queue="later", run_at=later)
    enqueue_many(db, ["t", "t"], queues=["later", "now"], run_ats=[later, None])
    assert heard(listener, db) == ["now"]


def test_cancel_of_a_running_task_notifies_its_worker(listener, db):
    running, queued = enqueue(db), enqueue(db)
    claim(db, batch=1)
    heard(listener, db)  # drain the enqueue notifications
    cancel(db, queued)
    cancel(db, running)
    assert heard(listener, db, "pgtask_cancel") == [str(running)]


def test_retry_task_wakes_the_queue(listener, db):
    task_id = enqueue(db, queue="q", max_attempts=1)
    [row] = claim(db)
    db.execute("select pgtask.fail_task(%s, %s, 'boom', null, true)", (task_id, row["lease_token"]))
    heard(listener, db)
    retry(db, task_id)
    assert heard(listener, db) == ["q"]

