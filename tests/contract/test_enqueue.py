"""Enqueueing: order of ids, defaults, validation, and idempotency keys under races."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pgtask.models import EnqueueRequest


def test_ids_come_back_in_request_order_with_keys_mixed_in(store, db):
    requests = [EnqueueRequest("jobs.run", {"n": n}, idempotency_key="k" if n == 2 else None)
                for n in range(6)]
    ids = store.enqueue_many(requests)
    assert len(set(ids)) == 6
    assert [db.task(i)["payload"]["n"] for i in ids] == list(range(6))
    assert store.enqueue_many([]) == []


def _json(value):
    return json.loads(value) if isinstance(value, str) else value  # MySQL hands back text


def test_a_large_mixed_batch_keeps_request_order(store, db):
    # Queues, priorities and delays vary, so that any reordering inside the statement shows.
    requests = [EnqueueRequest("jobs.run", {"n": n}, queue=f"q{n % 3}", priority=n % 7,
                               delay=timedelta(seconds=n % 2)) for n in range(3000)]
    ids = store.enqueue_many(requests)
    assert len(set(ids)) == 3000
    rows = db.rows("select id, payload from {tasks}")
    payload_of = {r["id"]: _json(r["payload"])["n"] for r in rows}
    assert [payload_of[i] for i in ids] == list(range(3000))


def test_defaults_and_explicit_fields_are_stored(store, db):
    run_at = datetime.now(UTC) + timedelta(minutes=10)
    [plain, full] = store.enqueue_many([
        EnqueueRequest("jobs.run"),
        EnqueueRequest("jobs.run", {"a": [1, {"b": None}]}, queue="q.1", run_at=run_at,
                       priority=7, max_attempts=3, target_url="https://example.com/hook"),
    ])
    row = db.task(plain)
    assert (row["queue"], row["payload"], row["priority"], row["max_attempts"]) == (
        "default", {}, 0, None)
    row = db.task(full)
    assert (row["queue"], row["payload"], row["priority"], row["max_attempts"],
            row["target_url"]) == (
        "q.1", {"a": [1, {"b": None}]}, 7, 3, "https://example.com/hook")
    assert abs(row["run_at"] - run_at) < timedelta(milliseconds=1)
    assert db.rows("select name from {queues} order by name") == [
        {"name": "default"}, {"name": "q.1"}]


@pytest.mark.parametrize("request_, message", [
    (EnqueueRequest("Emails.Send"), "invalid task type"),
    (EnqueueRequest("emails\nsend"), "invalid task type"),
    (EnqueueRequest("ok", queue="no spaces"), "invalid queue name"),
    (EnqueueRequest("ok", [1, 2]), "payload must be a JSON object"),
    (EnqueueRequest("ok", {"x": "y" * 1048576}), "the limit is 1048576 bytes"),
    (EnqueueRequest("ok", priority=5000), "priority"),
    (EnqueueRequest("ok", max_attempts=0), "max_attempts"),
    (EnqueueRequest("ok", target_url="ftp://x"), "target_url must start with http"),
])
def test_bad_requests_are_refused_with_a_clear_message(store, db, request_, message):
    with pytest.raises(Exception, match=message):
        store.enqueue_many([EnqueueRequest("fine"), request_])
    assert db.rows("select count(*) as n from {tasks}")[0]["n"] == 0  # nothing half-done


def test_an_idempotency_key_returns_the_first_task_per_queue(store, db):
    first = store.enqueue_many([EnqueueRequest("jobs.run", {"v": 1}, idempotency_key="order-7")])[0]
    again = store.enqueue_many([EnqueueRequest("jobs.run", {"v": 2}, idempotency_key="order-7")])[0]
    other_queue = store.enqueue_many([EnqueueRequest("jobs.run", idempotency_key="order-7",
                                                     queue="other")])[0]
    assert again == first and other_queue != first
    assert db.task(first)["payload"] == {"v": 1}
    # Within one batch, too.
    assert len(set(store.enqueue_many([EnqueueRequest("jobs.run", idempotency_key="b")] * 3))) == 1


def test_idempotency_key_race_20_concurrent_enqueues_make_one_task(open_sync_store, db):
    store = open_sync_store(max_size=20)
    request = EnqueueRequest("jobs.run", {}, idempotency_key="race")
    ids = store.gather(*(store.store.enqueue_many([request]) for _ in range(20)))
    assert len({i[0] for i in ids}) == 1
    assert db.rows("select count(*) as n from {tasks}")[0]["n"] == 1
