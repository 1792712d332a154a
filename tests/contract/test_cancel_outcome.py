"""A handler cancels its own task (pgtask.Cancel): finish outcome 'cancelled', both backends.

The task ends in history as 'cancelled' with the reason as its message, exactly as an
operator's cancel records it (no entry in its errors); a stale lease changes nothing.
"""

from __future__ import annotations

import uuid

from pgtask.models import EnqueueRequest, Outcome


def enqueue(store, **kw) -> int:
    return store.enqueue_many([EnqueueRequest("emails.send", {}, queue="default", **kw)])[0]


def test_outcome_cancelled_ends_the_task_cancelled_with_its_reason(store, db):
    task_id = enqueue(store, max_attempts=5)
    [task] = store.claim(None, "w1", 10, None)
    outcome = Outcome(task_id, task.lease_token, "cancelled", error="customer closed the account")
    assert store.finish([outcome]).applied == {task_id}
    row = db.task(task_id)
    assert (row["state"], row["message"], row["errors"], row["attempt"]) == (
        "cancelled", "customer closed the account", [], 1)
    assert row["finished_at"] is not None and row["result"] is None
    assert db.rows("select count(*) as n from {tasks}")[0]["n"] == 0


def test_outcome_cancelled_without_a_reason_reads_cancelled_like_cancel_task(store, db, ops):
    by_handler, by_operator = enqueue(store), enqueue(store)
    claimed = {t.id: t for t in store.claim(None, "w1", 10, None)}
    store.finish([Outcome(by_handler, claimed[by_handler].lease_token, "cancelled")])
    assert ops.cancel(by_operator)
    handler_row, operator_row = db.task(by_handler), db.task(by_operator)
    for key in ("state", "message", "errors"):
        assert handler_row[key] == operator_row[key], key
    assert handler_row["message"] == "cancelled"


def test_outcome_cancelled_with_a_stale_lease_is_discarded(store, db):
    task_id = enqueue(store)
    store.claim(None, "w1", 10, None)
    stale = Outcome(task_id, uuid.uuid4(), "cancelled", error="late")
    assert store.finish([stale]).applied == set()
    assert db.task(task_id)["state"] == "running"


def test_a_cancelled_task_can_be_retried(store, db, ops):
    task_id = enqueue(store)
    [task] = store.claim(None, "w1", 10, None)
    store.finish([Outcome(task_id, task.lease_token, "cancelled", error="not now")])
    assert ops.retry(task_id)
    assert db.task(task_id)["state"] == "queued"
