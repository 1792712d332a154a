"""Fan-in: a group's follow-up is enqueued once, by the finish of its last member."""

import json
import threading

import psycopg

from pgtask.chains import follow_ups, group_members
from pgtask.store.postgres.chains import enqueue_group_on

from .helpers import run_task, scalar


def make_group(db, n, then=None):
    return scalar(db, "select pgtask.enqueue_group(%s::jsonb, %s::jsonb)",
                  (json.dumps([{"task_type": "member", "payload": {"i": i}} for i in range(n)]),
                   json.dumps(then or {"task_type": "zip", "payload": {"album": 7}})))


def members(db, group):
    return [r["id"] for r in db.execute(
        "select id from pgtask.tasks where group_id = %s order by id", (group,)).fetchall()]


def followups(db):
    return db.execute("select id, payload from pgtask.tasks where task_type = 'zip'").fetchall()


def test_the_followup_waits_for_the_last_member_and_counts_how_they_ended(db):
    group = make_group(db, 3)
    first, second, third = members(db, group)
    run_task(db, first, result=1)
    run_task(db, second, error="bad", dead=True)
    assert followups(db) == []
    assert scalar(db, "select pgtask.cancel_task(%s)", (third,))
    (zip_task,) = followups(db)
    assert zip_task["payload"] == {"album": 7, "group_id": group, "succeeded": 1, "dead": 1,
                                   "cancelled": 1}
    row = db.execute("select remaining, completed_at, follow_up_ids from pgtask.groups").fetchone()
    assert row["remaining"] == 0 and row["follow_up_ids"] == [zip_task["id"]]


def test_an_empty_group_fires_at_once_and_python_builds_groups(db):
    make_group(db, 0)
    assert len(followups(db)) == 1
    group = enqueue_group_on(db, group_members([("member", {"i": 1}), "member"]), follow_ups("zip"))
    assert len(members(db, group)) == 2


def test_a_member_retried_before_the_group_completes_counts_once(db):
    group = make_group(db, 2)
    first, second = members(db, group)
    run_task(db, first, error="boom", dead=True)
    assert scalar(db, "select pgtask.retry_task(%s)", (first,))
    run_task(db, second, result=1)
    assert followups(db) == []  # the retried member is unfinished again
    run_task(db, first, result=2)
    (zip_task,) = followups(db)
    assert (zip_task["payload"]["succeeded"], zip_task["payload"]["dead"]) == (2, 0)


def test_concurrent_finishes_fire_the_followup_exactly_once(dsn, db):
    """Eight workers finish the members of several groups at the same time, in batches that
    mix groups in opposite orders (a deadlock, if group rows were locked in any order)."""
    groups = [make_group(db, 24) for _ in range(5)]
    everyone = [m for g in groups for m in members(db, g)]
    claimed = db.execute("select id, lease_token from pgtask.claim_task(null, 'w', 1000)"
                         ).fetchall()
    assert len(claimed) == len(everyone)
    batches = [claimed[i::8] for i in range(8)]
    batches = [b if i % 2 else list(reversed(b)) for i, b in enumerate(batches)]
    barrier = threading.Barrier(8)
    errors = []

    def finisher(batch):
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                barrier.wait()
                for i in range(0, len(batch), 4):
                    part = batch[i:i + 4]
                    conn.execute("select count(*) from pgtask.complete_tasks(%s, %s)",
                                 ([r["id"] for r in part], [r["lease_token"] for r in part]))
        except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=finisher, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    got = sorted(f["payload"]["group_id"] for f in followups(db))
    assert got == sorted(groups)  # one follow-up per group, none twice
    assert all(f["payload"]["succeeded"] == 24 for f in followups(db))
