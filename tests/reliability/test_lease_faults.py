"""A live worker must never lose a run to itself (issue 14, item 1).

Two faults make a healthy run's lease run out while its handler still works: the database
is away for longer than the lease, or the lease is shorter than the heartbeat can keep. The
worker must then end the stale run before it runs the task again (never two runs of one
task at once in one process), and every task must succeed exactly once. Runs are counted
from a file the handlers append to (tests/support/runlog.py), not from the database, which
is down during the first fault; outcomes are read from pgtask.task_history.

Each test prints a FIGURES line (tasks, executions, overlaps, final states): run with -s.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

import pgtask
from tests.support import runlog
from tests.support.waiting import wait_until
from tests.support.workers import ROOT

pytestmark = pytest.mark.slow

MAX_ATTEMPTS = 5  # enough for a rescue or two; few enough that a broken worker ends quickly
SET_QUEUE = ("update pgtask.queues set lease = %s::interval, max_attempts = %s "
             "where name = 'default'")
HISTORY = "select id, state::text from pgtask.task_history where id = any(%s)"
UNFINISHED = "select id, state::text from pgtask.tasks where id = any(%s)"


def set_lease(dsn: str, lease: str) -> None:
    """A direct UPDATE: `queue set` refuses leases this short, the table does not."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SET_QUEUE, (lease, MAX_ATTEMPTS))


def enqueue(dsn: str, task_type: str, seconds: float, count: int) -> list[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return pgtask.enqueue_many(conn, [(task_type, {"seconds": seconds})] * count)


def final_states(dsn: str, ids: list[int]) -> dict[int, str] | None:
    """task id -> state (finished or not); None while the server does not answer."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=2) as conn:
            live = dict(conn.execute(UNFINISHED, (ids,)).fetchall())
            done = dict(conn.execute(HISTORY, (ids,)).fetchall())
    except psycopg.OperationalError:
        return None
    return {**live, **done}


def all_finished(dsn: str, ids: list[int]) -> dict[int, str] | None:
    states = final_states(dsn, ids)
    if states is None or any(s not in ("succeeded", "dead", "cancelled") for s in states.values()):
        return None
    return states


def worker_env(log: Path) -> dict[str, str]:
    # This tree's own src first: the spawned `python -m pgtask` must run the code under
    # test, also from a checkout of an older commit next to an installed pgtask.
    return {runlog.ENV: str(log), "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}


def start_worker(spawn_on, dsn: str, log: Path, concurrency: int):
    return spawn_on(dsn, "--concurrency", str(concurrency), "--handlers", "tests.support.runlog",
                    env=worker_env(log))


def report(name: str, log: Path, states: dict[int, str]) -> runlog.Summary:
    summary = runlog.summarize(runlog.read_runs(log))
    print(f"\nFIGURES {name}: {summary.line()} final_states={dict(Counter(states.values()))} "
          f"executions_per_task={summary.per_task}")
    return summary


def check(summary: runlog.Summary, states: dict[int, str], workers) -> None:
    detail = (summary.line(), dict(Counter(states.values())))
    assert all(state == "succeeded" for state in states.values()), detail
    assert summary.overlaps_in_process == 0, detail
    assert summary.unfinished == 0, detail
    assert all(w.proc.poll() is None for w in workers), [w.log()[-3000:] for w in workers]


def outage(private_pg, seconds: float) -> None:
    """Take our own server away for `seconds` (the fault's length, not a synchronisation)."""
    port = private_pg.port
    private_pg.stop(mode="fast")
    time.sleep(seconds)
    private_pg.start()
    assert private_pg.port == port, "the private server came back on another port"


# -- a database outage longer than the lease ----------------------------------------------

TASKS = 12
LEASE = "8 seconds"  # above the old fixed 5 s heartbeat: only the outage loses the leases
OUTAGE = 12.0  # > LEASE: every lease held at the stop has run out when the server returns
TASK_SECONDS = 20.0  # still running when the server returns


def outage_then_finished(private_pg, dsn: str, ids: list[int]) -> dict:
    """Stop the server for OUTAGE seconds, then wait until every task has finished."""
    outage(private_pg, OUTAGE)
    return wait_until(lambda: all_finished(dsn, ids), timeout=60, interval=0.5,
                      message="every task finished")


def test_outage_longer_than_the_lease(private_pg, private_chaos_dsn, spawn_on, tmp_path):
    log = tmp_path / "runs.log"
    set_lease(private_chaos_dsn, LEASE)
    ids = enqueue(private_chaos_dsn, "runlog.sleep", TASK_SECONDS, TASKS)
    # Free slots to spare: after the outage the worker can claim the expired tasks again.
    worker = start_worker(spawn_on, private_chaos_dsn, log, concurrency=2 * TASKS)
    wait_until(lambda: len(runlog.started_tasks(log)) == TASKS, timeout=30,
               message="every task started")
    states = outage_then_finished(private_pg, private_chaos_dsn, ids)
    check(report("outage/1 worker", log, states), states, [worker])


def test_outage_with_two_workers(private_pg, private_chaos_dsn, spawn_on, tmp_path):
    """One worker full (it cannot claim), the other with room: after the outage the second
    may take the first one's expired tasks. Across processes a short overlap is allowed
    (the first learns of its loss at its next heartbeat); within one, none."""
    log = tmp_path / "runs.log"
    set_lease(private_chaos_dsn, LEASE)
    ids = enqueue(private_chaos_dsn, "runlog.sleep", TASK_SECONDS, TASKS)
    full = start_worker(spawn_on, private_chaos_dsn, log, concurrency=TASKS // 2)
    wait_until(lambda: len(runlog.started_tasks(log)) == TASKS // 2, timeout=30,
               message="the first worker full")
    roomy = start_worker(spawn_on, private_chaos_dsn, log, concurrency=2 * TASKS)
    wait_until(lambda: len(runlog.started_tasks(log)) == TASKS, timeout=30,
               message="every task started")
    states = outage_then_finished(private_pg, private_chaos_dsn, ids)
    check(report("outage/2 workers", log, states), states, [full, roomy])


# -- a lease shorter than the old fixed 5 s heartbeat ---------------------------------------


@pytest.mark.parametrize("task_type", ["runlog.sleep", "runlog.sleep_sync"])
def test_lease_shorter_than_the_old_heartbeat(private_chaos_dsn, spawn_on, tmp_path,
                                              task_type):
    log = tmp_path / "runs.log"
    set_lease(private_chaos_dsn, "3 seconds")
    ids = enqueue(private_chaos_dsn, task_type, 12.0, 1)
    worker = start_worker(spawn_on, private_chaos_dsn, log, concurrency=4)
    states = wait_until(lambda: all_finished(private_chaos_dsn, ids), timeout=40,
                        interval=0.5, message="the task finished")
    summary = report(f"short lease/{task_type}", log, states)
    check(summary, states, [worker])
    assert summary.executions == 1, summary.line()
