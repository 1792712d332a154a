"""Queue limits seen the same by every claimer, and the operator's cancel / retry / prune."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pgtask.models import EnqueueRequest, Outcome


def enqueue_n(store, n: int, queue: str = "limited") -> list[int]:
    return store.enqueue_many([EnqueueRequest("jobs.run", {"n": i}, queue=queue) for i in range(n)])


def test_concurrency_limit_holds_across_two_claimers(open_sync_store, db):
    first, second = open_sync_store(), open_sync_store()
    enqueue_n(first, 5)
    db.set_queue("limited", concurrency_limit=2)
    a = first.claim(None, "w1", 5, None)
    b = second.claim(None, "w2", 5, None)
    assert (len(a), len(b)) == (2, 0)
    first.finish([Outcome(a[0].id, a[0].lease_token, "succeeded")])
    assert len(second.claim(None, "w2", 5, None)) == 1
    assert db.rows("select count(*) as n from {tasks} where state = 'running'")[0]["n"] == 2


def test_concurrency_limit_under_concurrent_claims(open_sync_store, db):
    store = open_sync_store(max_size=8)
    enqueue_n(store, 20)
    db.set_queue("limited", concurrency_limit=3)
    batches = store.gather(*(store.store.claim(None, f"w{i}", 5, None) for i in range(8)))
    assert sum(len(b) for b in batches) == 3


def test_rate_limit_is_a_shared_token_bucket(open_sync_store, db):
    first, second = open_sync_store(), open_sync_store()
    enqueue_n(first, 10)
    db.set_queue("limited", rate_limit=0.001, rate_burst=3, rate_tokens=3,
                 rate_updated_at=datetime.now(UTC))
    a = first.claim(None, "w1", 2, None)
    b = second.claim(None, "w2", 10, None)
    assert (len(a), len(b)) == (2, 1)  # a burst of 3 between them, then empty
    assert first.claim(None, "w1", 10, None) == []


def test_limited_and_open_queues_fill_one_batch(store, db):
    enqueue_n(store, 3, queue="limited")
    enqueue_n(store, 3, queue="open")
    db.set_queue("limited", concurrency_limit=1)
    claimed = store.claim(None, "w1", 4, None)
    assert sorted(t.queue for t in claimed) == ["limited", "open", "open", "open"]


def test_cancel_queued_and_running_tasks(store, db, ops):
    ids = enqueue_n(store, 2, queue="default")
    [task] = store.claim(None, "w1", 1, None)
    running, queued = task.id, (set(ids) - {task.id}).pop()
    assert ops.cancel(queued, "changed my mind")
    assert ops.cancel(running)
    assert (db.task(queued)["state"], db.task(queued)["message"]) == (
        "cancelled", "changed my mind")
    assert (db.task(running)["state"], db.task(running)["message"]) == ("cancelled", "cancelled")
    assert db.task(running)["worker_id"] == "w1"
    assert not ops.cancel(queued)  # already finished
    assert not ops.cancel(999999)


def test_retry_revives_dead_and_cancelled_tasks_with_fresh_attempts(store, db, ops):
    dead, cancelled, done = enqueue_n(store, 3, queue="default")
    claimed = {t.id: t for t in store.claim(None, "w1", 3, None)}
    store.finish([Outcome(dead, claimed[dead].lease_token, "dead", error="broken"),
                  Outcome(done, claimed[done].lease_token, "succeeded")])
    ops.cancel(cancelled)
    assert ops.retry(dead) and ops.retry(cancelled)
    assert not ops.retry(done) and not ops.retry(dead)  # succeeded / already queued
    row = db.task(dead)
    assert (row["state"], row["attempt"], row["errors"][0]["error"]) == ("queued", 0, "broken")
    [again] = [t for t in store.claim(None, "w2", 5, None) if t.id == dead]
    assert again.attempt == 1


def test_prune_forgets_history_older_than_the_cutoff(store, db, ops):
    [task_id] = enqueue_n(store, 1, queue="default")
    [task] = store.claim(None, "w1", 1, None)
    store.finish([Outcome(task_id, task.lease_token, "succeeded")])
    assert ops.prune(timedelta(hours=1)) == 0
    assert ops.prune(timedelta(0)) == 1
    assert db.task(task_id) is None
