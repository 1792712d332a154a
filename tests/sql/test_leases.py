"""Leases: attempts counted at claim, expiry and rescue, heartbeats, and the workers table."""

from __future__ import annotations

import uuid
from datetime import timedelta

from .helpers import (
    SECOND,
    cancel,
    claim,
    complete,
    count,
    db_now,
    enqueue,
    heartbeat,
    hot_row,
    rescue,
    set_queue,
    task,
)

MINUTE = 60 * SECOND


def register(db, worker, now=None, queues=None) -> None:
    db.execute("select pgtask.register_worker(%s, 'host1', 4242, %s, null, 8, %s)",
               (worker, queues, now))


def test_attempt_is_counted_at_claim_not_at_finish(db):
    task_id = enqueue(db)
    now = db_now(db)
    [first] = claim(db, now=now)
    assert first["attempt"] == 1 and hot_row(db, task_id)["attempt"] == 1
    # The worker dies without a word; the next claim after the lease is attempt 2.
    [second] = claim(db, worker="w2", now=now + 31 * SECOND)
    assert second["id"] == task_id and second["attempt"] == 2
    assert second["errors"][-1]["error"].startswith("lease expired")
    assert second["errors"][-1]["worker_id"] == "w1"


def test_lease_length_comes_from_the_queue(db):
    set_queue(db, "slow", lease=timedelta(minutes=5))
    enqueue(db, queue="slow")
    now = db_now(db)
    [row] = claim(db, now=now)
    assert row["lease_expires_at"] == now + 5 * MINUTE
    assert row["started_at"] == row["attempted_at"] == now


def test_unexpired_lease_is_not_reclaimed(db):
    enqueue(db)
    now = db_now(db)
    assert len(claim(db, now=now)) == 1
    assert claim(db, worker="w2", now=now + 29 * SECOND) == []
    assert rescue(db, now + 30 * SECOND) == 0


def test_rescue_requeues_expired_leases(db):
    ids = [enqueue(db) for _ in range(3)]
    now = db_now(db)
    claimed = claim(db, now=now)
    moved = rescue(db, now + 31 * SECOND)
    assert moved == 3
    for task_id in ids:
        row = hot_row(db, task_id)
        assert (row["state"], row["attempt"], row["lease_token"]) == ("queued", 1, None)
        assert row["run_at"] == now + 31 * SECOND
    # The old tokens are worthless now.
    assert not any(complete(db, r["id"], r["lease_token"]) for r in claimed)


def test_lease_expiring_on_the_last_attempt_makes_the_task_dead(db):
    task_id = enqueue(db, max_attempts=2)
    now = db_now(db)
    claim(db, now=now)
    assert claim(db, now=now + 31 * SECOND)[0]["attempt"] == 2
    assert claim(db, now=now + 62 * SECOND) == []  # the claim rescued it straight to dead
    dead = task(db, task_id)
    assert (dead["state"], dead["attempt"], dead["home"]) == ("dead", 2, "history")
    assert dead["message"].startswith("lease expired")
    assert len(dead["errors"]) == 2


def test_queue_level_max_attempts_applies_to_lost_leases(db):
    set_queue(db, "fragile", max_attempts=1)
    task_id = enqueue(db, queue="fragile")
    now = db_now(db)
    claim(db, now=now)
    assert rescue(db, now + MINUTE) == 1
    assert task(db, task_id)["state"] == "dead"


def test_heartbeat_extends_leases_by_the_queue_lease(db):
    set_queue(db, "default", lease=timedelta(minutes=2))
    register(db, "w1")
    enqueue(db)
    enqueue(db)
    now = db_now(db)
    rows = claim(db, now=now)
    ids, tokens = [r["id"] for r in rows], [r["lease_token"] for r in rows]
    assert heartbeat(db, "w1", ids, tokens, now=now + MINUTE) == []
    for task_id in ids:
        assert hot_row(db, task_id)["lease_expires_at"] == now + 3 * MINUTE
    # Kept alive past the original lease: nothing to rescue at now + 2.5 minutes.
    assert rescue(db, now + 150 * SECOND) == 0
    worker = db.execute("select * from pgtask.workers where id = 'w1'").fetchone()
    assert (worker["heartbeat_at"], worker["in_flight"]) == (now + MINUTE, 2)


def test_heartbeat_returns_the_ids_no_longer_held(db):
    kept, cancelled, reclaimed = enqueue(db), enqueue(db), enqueue(db)
    now = db_now(db)
    rows = {r["id"]: r["lease_token"] for r in claim(db, now=now)}
    cancel(db, cancelled)
    # A stale token for `reclaimed`: as if another worker had claimed it since.
    tokens = [rows[kept], rows[cancelled], uuid.uuid4()]
    lost = heartbeat(db, "w1", [kept, cancelled, reclaimed], tokens, now=now + SECOND)
    assert sorted(lost) == sorted([cancelled, reclaimed])
    assert hot_row(db, kept)["lease_expires_at"] == now + 31 * SECOND
    assert hot_row(db, reclaimed)["lease_expires_at"] == now + 30 * SECOND


def test_register_refresh_and_deregister_worker(db):
    now = db_now(db)
    register(db, "w1", now=now, queues=["a", "b"])
    register(db, "w1", now=now + MINUTE, queues=["c"])
    row = db.execute("select * from pgtask.workers").fetchone()
    assert (row["queues"], row["started_at"], row["heartbeat_at"]) == (["c"], now, now + MINUTE)
    assert (row["host"], row["pid"], row["concurrency"]) == ("host1", 4242, 8)
    db.execute("select pgtask.deregister_worker('w1')")
    assert count(db, "workers") == 0
