"""The done-task stream: every finished task exactly once, in order, from a cursor, even
though tasks commit in another order than they get ids and timestamps."""

import asyncio
import random
import threading
import time
from contextlib import aclosing

import psycopg
import pytest

from pgtask.follow import DoneTask, follow
from tests.support.waiting import wait_until

from .helpers import scalar


def stream(db, after=None, max_rows=100):
    return db.execute("select id, cursor from pgtask.follow_done(%s, %s)",
                      (after, max_rows)).fetchall()


def claim(db, n):
    return db.execute("select id, lease_token from pgtask.claim_task(null, 'w', %s) order by id",
                      (n,)).fetchall()


def test_a_late_commit_is_not_skipped_where_a_naive_cursor_would_skip_it(dsn, db):
    db.execute("select pgtask.enqueue_tasks(array['t', 't'])")
    first, second = claim(db, 2)
    with psycopg.connect(dsn) as slow:  # finishes task 1 first, commits last
        slow.execute("select pgtask.complete_task(%s, %s)", (first["id"], first["lease_token"]))
        db.execute("select pgtask.complete_task(%s, %s)", (second["id"], second["lease_token"]))
        naive = [r["id"] for r in db.execute("select id from pgtask.task_history where id > 0")]
        assert naive == [second["id"]]  # a consumer keeping "last id seen" is now past task 1
        assert stream(db) == []  # the stream waits for the open transaction instead
        slow.commit()
    assert db.execute("select count(*) as n from pgtask.task_history where id > %s",
                      (second["id"],)).fetchone()["n"] == 0  # ... and never sees task 1
    # Generous: the stream also waits for transactions in other databases of the server.
    rows = wait_until(lambda: stream(db), timeout=60, message="the stream to show both")
    assert [r["id"] for r in rows] == [first["id"], second["id"]]  # finishing-transaction order
    assert stream(db, rows[0]["cursor"]) == rows[1:]
    assert stream(db, rows[1]["cursor"]) == []


def test_bad_cursors_are_refused(db):
    with pytest.raises(psycopg.Error, match="not a done-stream cursor"):
        db.execute("select * from pgtask.follow_done('yesterday')")
    with pytest.raises(psycopg.Error, match="max_rows"):
        db.execute("select * from pgtask.follow_done(null, 0)")


def finish_everything(dsn, seed, stop):
    """A worker: claim 1-5 tasks and finish them (some dead), sometimes holding the
    transaction open a while, so commits land out of id and timestamp order."""
    rng = random.Random(seed)
    with psycopg.connect(dsn) as conn:
        while not stop.is_set():
            rows = conn.execute("select id, lease_token from pgtask.claim_task(null, %s, %s)",
                                (f"w{seed}", rng.randint(1, 5))).fetchall()
            if not rows:
                conn.rollback()
                return
            if rng.random() < 0.3:
                time.sleep(rng.uniform(0.01, 0.15))
            ids, tokens = [r[0] for r in rows], [r[1] for r in rows]
            if rng.random() < 0.1:
                conn.execute("select pgtask.fail_tasks(%s, %s, %s, permanents => %s)",
                             (ids, tokens, ["boom"] * len(ids), [True] * len(ids)))
            else:
                conn.execute("select pgtask.complete_tasks(%s, %s)", (ids, tokens))
            conn.commit()


async def take(dsn, after, count=None, until_ids=None, timeout=120.0):
    """Follow from `after` until `count` rows, or until every id in `until_ids` was seen."""
    got: list[DoneTask] = []
    deadline = time.monotonic() + timeout
    async with aclosing(follow(dsn, after=after, batch=37, poll_interval=0.05)) as done_tasks:
        async for done in done_tasks:
            got.append(done)
            if count is not None and len(got) >= count:
                break
            if until_ids is not None and until_ids <= {d.id for d in got}:
                break
            assert time.monotonic() < deadline, "the stream stalled"
    return got


def test_following_from_a_cursor_yields_each_finished_task_once_across_a_restart(dsn, db):
    total = 600
    # Random priorities: claims (and so finishing transactions) then run out of id order
    # whatever the timing, which is what makes a naive id cursor skip.
    db.execute("select pgtask.enqueue_tasks(array_fill('t'::text, array[%s]),"
               " priorities => array(select (random() * 10)::integer"
               "                       from generate_series(1, %s)))", (total, total))
    everyone = {r["id"] for r in db.execute("select id from pgtask.tasks")}
    stop = threading.Event()
    workers = [threading.Thread(target=finish_everything, args=(dsn, seed, stop))
               for seed in range(8)]
    for w in workers:
        w.start()
    try:
        before = asyncio.run(take(dsn, None, count=total // 3))  # then the follower restarts
        after = asyncio.run(take(dsn, before[-1].cursor,
                                 until_ids=everyone - {d.id for d in before}))
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=60)
    seen = [d.id for d in before + after]
    assert len(seen) == len(set(seen)) == total and set(seen) == everyone
    assert {d.state for d in before + after} <= {"succeeded", "dead"}
    positions = [tuple(map(int, d.cursor.split(":"))) for d in before + after]
    assert positions == sorted(positions)
    assert seen != sorted(seen)  # the hard case above really happened


def test_with_notify_on_a_follower_wakes_without_waiting_for_its_poll(dsn, db):
    db.execute("select set_config('pgtask.notify_done', 'on', false)")
    task_id = scalar(db, "select pgtask.enqueue_task('t')")

    async def main():
        async with aclosing(follow(dsn, poll_interval=30)) as done_tasks:
            waiter = asyncio.ensure_future(anext(done_tasks))
            await asyncio.sleep(1.0)  # the follower is now waiting on LISTEN
            (row,) = claim(db, 1)
            db.execute("select pgtask.complete_task(%s, %s)", (row["id"], row["lease_token"]))
            started = time.monotonic()
            done = await asyncio.wait_for(waiter, 20)
            return done, time.monotonic() - started

    done, waited = asyncio.run(main())
    assert done.id == task_id and waited < 20
