"""Unstuck: a run longer than its queue's max_run_time is taken away at the heartbeat that
would have extended it (the attempt counts as failed, with an error that says why), on both
backends. Time passes by backdating the claim (attempted_at)."""

from __future__ import annotations

from datetime import timedelta

from pgtask.models import EnqueueRequest


def backdate_claim(db, task_id: int, seconds: int) -> None:
    if db.backend == "postgres":
        db.rows("update {tasks} set attempted_at = attempted_at - make_interval(secs => %s)"
                " where id = %s", seconds, task_id)
    else:
        db.rows("update {tasks} set attempted_at = attempted_at - interval %s second"
                " where id = %s", seconds, task_id)


def claim_two(store, db, **policy):
    db.set_queue("q", **policy)
    ids = store.enqueue_many([EnqueueRequest("t", {}, queue="q", max_attempts=2)
                              for _ in range(2)])
    held = {t.id: t for t in store.claim(["q"], "w1", 10, None)}
    assert set(held) == set(ids)
    return ids, held


def test_a_run_past_max_run_time_is_failed_at_its_heartbeat(store, db):
    (hung, fresh), held = claim_two(store, db, max_run_time=timedelta(minutes=10))
    backdate_claim(db, hung, 601)
    gone = store.heartbeat("w1", [(i, t.lease_token) for i, t in held.items()])
    assert gone == {hung}
    row = db.task(hung)
    assert (row["state"], row["attempt"], len(row["errors"])) == ("queued", 1, 1)
    error = row["errors"][0]["error"]
    assert "ran longer than queue q's max_run_time (00:10:00)" in error
    assert "pgtask queue set q --max-run-time" in error
    assert db.task(fresh)["state"] == "running"  # younger than the limit: extended


def test_the_last_attempt_past_max_run_time_ends_dead(store, db):
    (hung, _), held = claim_two(store, db, max_run_time=timedelta(seconds=30))
    db.rows("update {tasks} set attempt = 2 where id = %s", hung)
    backdate_claim(db, hung, 31)
    assert store.heartbeat("w1", [(hung, held[hung].lease_token)]) == {hung}
    row = db.task(hung)
    assert row["state"] == "dead" and "max_run_time" in row["message"]


def test_without_max_run_time_a_long_run_is_extended(store, db):
    (old, _), held = claim_two(store, db, max_attempts=20)
    backdate_claim(db, old, 86400)
    assert store.heartbeat("w1", [(old, held[old].lease_token)]) == set()
    assert db.task(old)["state"] == "running"
