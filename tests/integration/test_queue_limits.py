"""Queue limits deliver what they say (issue 16, items 3 and 5), measured from the
database's own timestamps (attempted_at, finished_at), with real worker processes.

A rate of N/s set with `pgtask queue set --rate` (default burst) delivers N/s +/- 10% over
20 s from two workers: a worker the rate turns away sleeps until the next token, not a poll
interval. A concurrency limit of N across two processes keeps N running while work is
ready: a finish in the queue wakes a worker waiting on the limit (NOTIFY), so >= 95% of the
slot-time is used.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.support.waiting import wait_until
from tests.support.workers import prepare_chaos

PGTASK = Path(sys.executable).with_name("pgtask")
pytestmark = pytest.mark.slow


def queue_set(dsn: str, *args: str) -> None:
    done = subprocess.run([str(PGTASK), "queue", "set", *args, "--dsn", dsn],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def enqueue(conn: psycopg.Connection, queue: str, count: int, payload: dict) -> None:
    conn.execute("select pgtask.enqueue_tasks(array_fill('chaos.run'::text, array[%s]),"
                 " array_fill(%s::jsonb, array[%s]), array_fill(%s::text, array[%s]))",
                 (count, Jsonb(payload), count, queue, count))


def finished(conn: psycopg.Connection, queue: str) -> int:
    return conn.execute("select count(*) from pgtask.task_history where queue = %s",
                        (queue,)).fetchone()[0]


def test_a_rate_of_5_per_second_delivers_5_per_second_from_two_workers(dsn, spawn_on):
    prepare_chaos(dsn)
    queue_set(dsn, "rated", "--rate", "5/s")
    with psycopg.connect(dsn, autocommit=True) as conn:
        enqueue(conn, "rated", 300, {"do": "ok"})
        for _ in range(2):  # the default 1 s poll: the token wait, not the poll, paces them
            spawn_on(dsn, "--queue", "rated", "--concurrency", "10")
        wait_until(lambda: finished(conn, "rated") >= 120, timeout=40,
                   message="24 s of claims at 5/s")
        first = conn.execute("select min(attempted_at) from pgtask.task_history"
                             " where queue = 'rated'").fetchone()[0]
        # Steady state: the 20 s after the first second (the burst and start-up out of it).
        start, end = first + timedelta(seconds=1), first + timedelta(seconds=21)
        claimed = conn.execute(
            "select count(*) from pgtask.all_tasks where queue = 'rated'"
            " and attempted_at >= %s and attempted_at < %s", (start, end)).fetchone()[0]
        workers = conn.execute("select count(distinct worker_id) from pgtask.task_history"
                               " where queue = 'rated'").fetchone()[0]
    rate = claimed / 20
    print(f"rate limit 5/s: {claimed} claims in 20 s = {rate:.2f}/s, {workers} workers")
    assert 4.5 <= rate <= 5.5, f"{rate:.2f}/s"


def slot_time_used(conn: psycopg.Connection, queue: str, limit: int) -> float:
    """Of the slot-time while work was ready (first claim to last claim), the share that
    tasks held: each task holds a slot from its claim to its finish."""
    row = conn.execute(
        """with runs as (select attempted_at as a, finished_at as f from pgtask.task_history
                          where queue = %(q)s),
                win as (select min(a) as s, max(a) as e from runs)
           select extract(epoch from sum(least(r.f, w.e) - greatest(r.a, w.s))),
                  extract(epoch from w.e - w.s)
             from runs r, win w where r.f > w.s and r.a < w.e group by w.e, w.s""",
        {"q": queue}).fetchone()
    busy, window = float(row[0]), float(row[1])
    return busy / (limit * window)


def test_a_concurrency_limit_of_3_across_two_processes_keeps_3_running(dsn, spawn_on):
    prepare_chaos(dsn)
    queue_set(dsn, "slots", "--concurrency-limit", "3")
    with psycopg.connect(dsn, autocommit=True) as conn:
        enqueue(conn, "slots", 66, {"do": "sleep", "seconds": 1})  # 22 s at 3 slots
        for _ in range(2):
            spawn_on(dsn, "--queue", "slots", "--concurrency", "3")
        wait_until(lambda: finished(conn, "slots") == 66, timeout=60,
                   message="66 one-second tasks through 3 slots")
        used = slot_time_used(conn, "slots", 3)
        workers = conn.execute("select count(distinct worker_id) from pgtask.task_history"
                               " where queue = 'slots'").fetchone()[0]
    print(f"concurrency limit 3: {used:.1%} of slot-time used, {workers} workers")
    assert workers == 2
    assert used >= 0.95, f"{used:.1%} of the slot-time"
