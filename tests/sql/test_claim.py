"""claim_task: order, batch size, and the filters (queues, paused, task types, run_at)."""

from __future__ import annotations

import psycopg
import pytest

from .helpers import SECOND, claim, db_now, enqueue, enqueue_many, set_queue


def test_claim_order_is_priority_then_run_at_then_id(db):
    now = db_now(db)
    expected = [
        enqueue(db, priority=10, run_at=now - 5 * SECOND),
        enqueue(db, priority=10, run_at=now - 5 * SECOND),
        enqueue(db, priority=10, run_at=now - SECOND),
        enqueue(db, priority=0, run_at=now - 9 * SECOND),
        enqueue(db, priority=-3, run_at=now - 60 * SECOND),
    ]
    # Enqueue in scrambled order so ids and insertion order do not give the answer away.
    late_high = enqueue(db, priority=10, run_at=now - 7 * SECOND)
    expected.insert(0, late_high)
    rows = claim(db, batch=100, now=now)
    assert [r["id"] for r in rows] == expected


def test_batch_size_limits_the_claim(db):
    ids = enqueue_many(db, ["t"] * 7)
    first = claim(db, batch=3)
    second = claim(db, batch=3)
    third = claim(db, batch=3)
    assert [len(first), len(second), len(third)] == [3, 3, 1]
    assert sorted(r["id"] for r in first + second + third) == sorted(ids)
    assert claim(db, batch=3) == []


def test_each_claim_gets_a_fresh_lease_token(db):
    enqueue_many(db, ["t"] * 3)
    tokens = [r["lease_token"] for r in claim(db)]
    assert len(set(tokens)) == 3


@pytest.mark.parametrize(("batch", "worker", "message"), [
    (0, "w1", "batch must be between 1 and 10000, got 0"),
    (10_001, "w1", "batch must be between 1 and 10000, got 10001"),
    (None, "w1", "batch must be between 1 and 10000, got NULL"),
    (1, "", "claim_task needs a worker_id"),
    (1, None, "claim_task needs a worker_id"),
])
def test_bad_claim_arguments_are_refused(shared_db, batch, worker, message):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
        claim(shared_db, batch=batch, worker=worker)


def test_claim_takes_only_the_named_queues(db):
    a, b = enqueue(db, queue="a"), enqueue(db, queue="b")
    enqueue(db, queue="c")
    assert sorted(r["id"] for r in claim(db, queues=["a", "b", "nosuch"])) == sorted([a, b])
    assert [r["queue"] for r in claim(db)] == ["c"]


def test_paused_queues_are_skipped(db):
    enqueue(db, queue="held")
    free = enqueue(db, queue="free")
    set_queue(db, "held", paused=True)
    assert [r["id"] for r in claim(db)] == [free]
    assert claim(db, queues=["held"]) == []
    set_queue(db, "held", paused=False)
    assert [r["queue"] for r in claim(db)] == ["held"]


def test_paused_queue_with_limits_is_skipped(db):
    set_queue(db, "held", paused=True, concurrency_limit=5)
    enqueue(db, queue="held")
    assert claim(db) == []


def test_task_types_filter(db):
    mail = enqueue(db, "emails.send")
    enqueue(db, "reports.build")
    sms = enqueue(db, "sms.send")
    rows = claim(db, task_types=["emails.send", "sms.send"])
    assert sorted(r["id"] for r in rows) == sorted([mail, sms])
    assert claim(db, task_types=["emails.send"]) == []


def test_task_types_filter_in_a_limited_queue(db):
    set_queue(db, "limited", concurrency_limit=10)
    enqueue(db, "other", queue="limited")
    wanted = enqueue(db, "wanted", queue="limited")
    assert [r["id"] for r in claim(db, task_types=["wanted"])] == [wanted]


def test_future_tasks_wait_for_their_run_at(db):
    now = db_now(db)
    task_id = enqueue(db, run_at=now + 60 * SECOND)
    assert claim(db, now=now + 59 * SECOND) == []
    assert [r["id"] for r in claim(db, now=now + 60 * SECOND)] == [task_id]


def test_limited_and_open_queues_share_one_batch(db):
    set_queue(db, "limited", concurrency_limit=2)
    enqueue_many(db, ["t"] * 5, queues=["limited"] * 5)
    enqueue_many(db, ["t"] * 5, queues=["open"] * 5)
    rows = claim(db, batch=6)
    assert sorted(r["queue"] for r in rows) == ["limited"] * 2 + ["open"] * 4
