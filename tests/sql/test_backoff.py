"""Retry timing: pgtask.backoff, the queue's retry policy, retry_after, and running out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .helpers import SECOND, claim, db_now, enqueue, fail, hot_row, set_queue, task


def backoff(db, attempt, min_b="1 second", max_b="1 hour", doublings=20, jitter=0.0, noise=0.5):
    return db.execute(
        "select pgtask.backoff(%s, %s::interval, %s::interval, %s, %s, %s) as wait",
        (attempt, min_b, max_b, doublings, jitter, noise),
    ).fetchone()["wait"]


def test_backoff_doubles_from_min_backoff(shared_db):
    waits = [backoff(shared_db, attempt) for attempt in range(1, 7)]
    assert waits == [timedelta(seconds=2**n) for n in range(6)]


def test_backoff_caps_at_max_backoff(shared_db):
    assert backoff(shared_db, 10, max_b="1 minute") == timedelta(minutes=1)
    assert backoff(shared_db, 7, max_b="1 minute") == timedelta(minutes=1)  # 64 s, capped
    assert backoff(shared_db, 6, max_b="1 minute") == timedelta(seconds=32)


def test_backoff_respects_max_doublings(shared_db):
    assert backoff(shared_db, 3, doublings=0) == timedelta(seconds=1)
    assert backoff(shared_db, 100, doublings=3) == timedelta(seconds=8)


def test_backoff_survives_the_largest_policy(shared_db):
    # 60 doublings of an hour would overflow an interval; the cap must still apply.
    wait = backoff(shared_db, 1000, min_b="1 hour", max_b="100 years", doublings=60)
    assert wait == timedelta(days=36525)


@pytest.mark.parametrize(("noise", "factor"), [(0.0, 0.9), (0.5, 1.0), (0.999999, 1.1)])
def test_jitter_spreads_within_bounds(shared_db, noise, factor):
    wait = backoff(shared_db, 4, jitter=0.2, noise=noise)  # 8 s base
    assert wait == pytest.approx(timedelta(seconds=8 * factor), abs=timedelta(microseconds=10))


def test_jitter_never_exceeds_max_backoff(shared_db):
    assert backoff(shared_db, 20, max_b="1 minute", jitter=1.0, noise=0.999) == timedelta(minutes=1)
    assert backoff(shared_db, 20, max_b="1 minute", jitter=1.0, noise=0.0) == timedelta(seconds=30)


def test_default_noise_is_random_within_bounds(shared_db):
    rows = shared_db.execute(
        "select pgtask.backoff(4, '1 second', '1 hour', 20, 0.5) as wait"
        " from generate_series(1, 200)").fetchall()
    waits = {r["wait"] for r in rows}
    assert all(timedelta(seconds=6) <= w <= timedelta(seconds=10) for w in waits)
    assert len(waits) > 100


def test_fail_task_waits_the_queue_backoff(db):
    set_queue(db, "default", min_backoff=timedelta(seconds=10),
              max_backoff=timedelta(seconds=50), backoff_jitter=0.0)
    task_id = enqueue(db)
    now = db_now(db)
    waits = []
    for attempt in range(1, 6):
        [row] = claim(db, now=now)
        assert row["attempt"] == attempt
        assert fail(db, task_id, row["lease_token"], now=now)
        run_at = hot_row(db, task_id)["run_at"]
        waits.append((run_at - now).total_seconds())
        now = run_at
    assert waits == [10, 20, 40, 50, 50]


def test_fail_task_honours_retry_after(db):
    task_id = enqueue(db)
    now = db_now(db)
    [row] = claim(db, now=now)
    assert fail(db, task_id, row["lease_token"], retry_after=timedelta(minutes=7), now=now)
    assert hot_row(db, task_id)["run_at"] == now + timedelta(minutes=7)
    assert claim(db, now=now + 419 * SECOND) == []
    assert claim(db, now=now + 420 * SECOND)[0]["id"] == task_id


def fail_until_dead(db, task_id) -> int:
    """Claim and fail the task until it leaves the hot table; return the attempts spent."""
    now = db_now(db)
    for attempts in range(1, 100):
        [row] = claim(db, now=now)
        fail(db, task_id, row["lease_token"], f"failure {attempts}",
             retry_after=SECOND, now=now)
        if hot_row(db, task_id) is None:
            return attempts
        now += 2 * SECOND
    raise AssertionError("never died")


def test_dead_after_task_max_attempts(db):
    set_queue(db, "default", max_attempts=10)
    task_id = enqueue(db, max_attempts=3)
    assert fail_until_dead(db, task_id) == 3
    dead = task(db, task_id)
    assert (dead["state"], dead["attempt"], dead["message"]) == ("dead", 3, "failure 3")
    assert [e["attempt"] for e in dead["errors"]] == [1, 2, 3]


def test_dead_after_queue_max_attempts(db):
    set_queue(db, "picky", max_attempts=4)
    task_id = enqueue(db, queue="picky")
    assert fail_until_dead(db, task_id) == 4
    assert task(db, task_id)["state"] == "dead"


def test_permanent_failure_skips_remaining_attempts(db):
    task_id = enqueue(db, max_attempts=10)
    [row] = claim(db)
    assert fail(db, task_id, row["lease_token"], "no such user", permanent=True)
    dead = task(db, task_id)
    assert (dead["state"], dead["attempt"], dead["message"]) == ("dead", 1, "no such user")
