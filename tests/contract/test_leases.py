"""Leases: fencing by token, heartbeats, and recovery of expired leases, on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta

from pgtask.models import EnqueueRequest, Outcome


def enqueue(store, **kw) -> int:
    return store.enqueue_many([EnqueueRequest("jobs.run", {}, **kw)])[0]


def test_a_stale_token_cannot_finish_the_task(store, db):
    task_id = enqueue(store)
    [task] = store.claim(None, "w1", 1, None)
    assert store.finish([Outcome(task_id, uuid.uuid4(), "succeeded")]).applied == set()
    assert store.finish([Outcome(task_id, uuid.uuid4(), "failed", error="x")]).applied == set()
    row = db.task(task_id)
    assert (row["state"], row["errors"]) == ("running", [])
    assert store.finish([Outcome(task_id, task.lease_token, "succeeded")]).applied == {task_id}
    # Finishing twice with the same token: the second is too late.
    assert store.finish([Outcome(task_id, task.lease_token, "failed")]).applied == set()
    assert db.task(task_id)["state"] == "succeeded"


def test_an_expired_lease_is_reclaimed_by_the_next_claim_with_a_new_token(store, db):
    db.set_queue("default", lease=timedelta(seconds=30))
    task_id = enqueue(store)
    [first] = store.claim(None, "w1", 1, None)
    assert store.claim(None, "w2", 1, None) == []  # leased: nobody else gets it
    db.shift(task_id, "lease_expires_at", -31)
    [second] = store.claim(None, "w2", 1, None)
    assert (second.id, second.attempt) == (task_id, 2)
    assert second.lease_token != first.lease_token
    row = db.task(task_id)
    assert row["worker_id"] == "w2"
    assert "lease expired" in row["errors"][0]["error"] and row["errors"][0]["worker_id"] == "w1"
    # The first worker comes back: its result is discarded, its heartbeat says it lost the task.
    assert store.finish([Outcome(task_id, first.lease_token, "succeeded")]).applied == set()
    assert store.heartbeat("w1", [(task_id, first.lease_token)]) == {task_id}
    assert store.finish([Outcome(task_id, second.lease_token, "succeeded")]).applied == {task_id}


def test_an_expired_lease_on_the_last_attempt_makes_the_task_dead(store, db):
    task_id = enqueue(store, max_attempts=1)
    store.claim(None, "w1", 1, None)
    db.shift(task_id, "lease_expires_at", -3600)
    assert store.claim(None, "w2", 1, None) == []
    row = db.task(task_id)
    assert (row["state"], row["attempt"]) == ("dead", 1)
    assert row["message"].startswith("lease expired")


def test_maintain_rescues_expired_leases_and_prunes_old_history(store, db):
    stuck = enqueue(store)
    done = enqueue(store, idempotency_key="once")
    claimed = {t.id: t for t in store.claim(None, "w1", 2, None)}
    store.finish([Outcome(done, claimed[done].lease_token, "succeeded")])
    db.shift(stuck, "lease_expires_at", -60)
    store.maintain(None)
    assert (db.task(stuck)["state"], db.task(stuck)["attempt"]) == ("queued", 1)
    store.maintain(timedelta(days=1))
    assert db.task(done) is not None  # finished just now: kept
    store.maintain(timedelta(0))
    assert db.task(done) is None
    # The key went with the task: it names a new task now.
    assert enqueue(store, idempotency_key="once") not in (done, stuck)


def test_heartbeat_extends_leases_and_reports_the_ones_lost(store, db, ops):
    db.set_queue("default", lease=timedelta(seconds=60))
    kept, cancelled = enqueue(store), enqueue(store)
    tokens = {t.id: t.lease_token for t in store.claim(None, "w1", 2, None)}
    db.shift(kept, "lease_expires_at", -50)
    before = db.task(kept)["lease_expires_at"]
    assert ops.cancel(cancelled, "no longer needed")
    lost = store.heartbeat("w1", [(kept, tokens[kept]), (cancelled, tokens[cancelled])])
    assert lost == {cancelled}
    assert db.task(kept)["lease_expires_at"] > before + timedelta(seconds=45)
    assert store.heartbeat("w1", [(kept, uuid.uuid4())]) == {kept}  # a wrong token holds nothing


def test_concurrent_claimers_never_get_the_same_task(open_sync_store):
    store = open_sync_store(max_size=8)
    ids = store.enqueue_many([EnqueueRequest("jobs.run", {"n": n}) for n in range(300)])

    async def claimer(worker: str) -> list[int]:
        got = []
        while batch := await store.store.claim(None, worker, 7, None):
            got += [t.id for t in batch]
        return got

    claimed = [i for got in store.gather(*(claimer(f"w{n}") for n in range(8))) for i in got]
    assert sorted(claimed) == sorted(ids)  # every task once, none twice
