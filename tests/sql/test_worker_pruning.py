"""rescue_tasks forgets a worker once it has been silent for three of the longest leases, and
at least a minute (a live worker heartbeats at least every 20 s), not after 10 minutes."""

from __future__ import annotations

from datetime import timedelta

from .helpers import SECOND, db_now, heartbeat, rescue, set_queue

MINUTE = 60 * SECOND


def register(db, worker: str, now) -> None:
    db.execute("select pgtask.register_worker(%s, 'host1', 4242, null, null, 8, %s)",
               (worker, now))


def left(db) -> list[str]:
    return [r["id"] for r in db.execute("select id from pgtask.workers order by id").fetchall()]


def test_with_short_leases_a_worker_silent_for_a_minute_is_forgotten(db):
    set_queue(db, "fast", lease=timedelta(seconds=10))  # 3 x 10 s is under the minute
    now = db_now(db)
    register(db, "a-fresh", now)
    register(db, "b-59s", now - 59 * SECOND)
    register(db, "c-60s", now - MINUTE)  # exactly the limit: not yet
    register(db, "d-61s", now - 61 * SECOND)
    register(db, "e-revived", now - 20 * MINUTE)
    heartbeat(db, "e-revived", now=now - 30 * SECOND)
    rescue(db, now)
    assert left(db) == ["a-fresh", "b-59s", "c-60s", "e-revived"]


def test_without_queues_the_limit_is_a_minute(db):
    assert db.execute("select count(*) as n from pgtask.queues").fetchone()["n"] == 0
    now = db_now(db)
    register(db, "quiet", now - 50 * SECOND)
    register(db, "silent", now - 70 * SECOND)
    rescue(db, now)
    assert left(db) == ["quiet"]


def test_the_longest_lease_of_any_queue_sets_the_limit(db):
    set_queue(db, "fast", lease=timedelta(seconds=10))
    set_queue(db, "slow", lease=2 * MINUTE)  # 3 x 2 min: six minutes
    now = db_now(db)
    register(db, "quiet", now - (6 * MINUTE - SECOND))
    register(db, "silent", now - (6 * MINUTE + SECOND))
    rescue(db, now)
    assert left(db) == ["quiet"]
    # The same worker rows, judged later: both gone well before the old 10 minutes.
    register(db, "quiet", now - (6 * MINUTE - SECOND))
    rescue(db, now + 2 * SECOND)
    assert left(db) == []


def test_the_rescue_inside_a_claim_prunes_by_the_same_rule(db):
    """claim_task rescues (and so prunes) when a lease has run out."""
    db.execute("select pgtask.enqueue_task('t')")  # queue "default", lease 30 s: limit 90 s
    now = db_now(db)
    assert len(db.execute("select * from pgtask.claim_task(null, 'w1', 1, null, %s)",
                          (now,)).fetchall()) == 1
    later = now + 31 * SECOND  # the claimed lease has run out
    register(db, "quiet", later - 80 * SECOND)
    register(db, "silent", later - 100 * SECOND)
    db.execute("select * from pgtask.claim_task(null, 'w2', 1, null, %s)", (later,))
    assert left(db) == ["quiet"]
