"""Store.prune in batches, the same on both backends (issue 17): each batch its own
transaction, oldest first, keys and logs with their task, a time budget honoured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pgtask.models import EnqueueRequest, LogLine, Outcome

HOUR = timedelta(hours=1)


def finished(store, db, n: int, hours_ago: int) -> list[int]:
    """n succeeded tasks (the first with an idempotency key, each with a log line),
    finished `hours_ago` hours ago, the first the oldest."""
    requests = [EnqueueRequest("jobs.run", {}, idempotency_key=f"k{hours_ago}" if i == 0 else None)
                for i in range(n)]
    ids = store.enqueue_many(requests)
    claimed = store.claim(None, "w1", n, None)
    at = datetime.now(UTC)
    store.finish([Outcome(t.id, t.lease_token, "succeeded") for t in claimed],
                 logs=[LogLine(t.id, 1, at, "info", "done") for t in claimed])
    earlier = ("finished_at - INTERVAL %s MINUTE" if db.backend == "mysql"
               else "finished_at - %s * interval '1 minute'")
    for age, task_id in enumerate(ids):
        db.rows(f"update {{task_history}} set finished_at = {earlier} where id = %s",
                hours_ago * 60 + n - age, task_id)
    return ids


def test_a_spent_budget_stops_after_one_batch_and_the_next_call_finishes(store, db):
    old = finished(store, db, 5, hours_ago=3)
    recent = finished(store, db, 1, hours_ago=0)
    assert store.prune(HOUR, batch_size=2, budget=0) == 2
    left = {r["id"] for r in db.rows("select id from {task_history}")}
    assert left == {*old[2:], *recent}  # the oldest went first
    assert store.prune(HOUR, batch_size=2) == 3
    assert {r["id"] for r in db.rows("select id from {task_history}")} == set(recent)
    assert {r["task_id"] for r in db.rows("select task_id from {task_logs}")} == set(recent)
    assert [r["key"] for r in db.rows("select `key` from {idempotency_keys}"
                                      if db.backend == "mysql" else
                                      "select key from {idempotency_keys}")] == ["k0"]


def test_maintain_prunes_within_its_budget(store, db):
    finished(store, db, 3, hours_ago=3)
    store.maintain(HOUR, 0)  # one batch of 10,000 at most: all three
    assert db.rows("select id from {task_history}") == []


@pytest.mark.parametrize("batch_size", [0, 1_000_001])
def test_a_batch_size_out_of_range_is_refused(store, batch_size):
    with pytest.raises(ValueError, match="batch size must be between 1 and 1,000,000"):
        store.prune(HOUR, batch_size=batch_size)
