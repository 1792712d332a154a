"""The scheduler under many workers: one leader, every fire time enqueued exactly once."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from pgtask.schedules import ScheduleDef, Timing
from pgtask.store.locks import SCHEDULER_LOCK_KEY
from pgtask.store.sessions import open_schedules
from pgtask.worker.scheduler import run_scheduler
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
EVERY_SECOND = ScheduleDef("heartbeat", "tick.task", every=timedelta(seconds=1))


def fires(dsn):
    """(fire_at, task_id, how many tasks have that run_at) for the schedule, in order."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select f.fire_at, f.task_id, (select count(*) from pgtask.tasks t"
            "                              where t.run_at = f.fire_at"
            "                                and t.task_type = 'tick.task')"
            "  from pgtask.schedule_fires f where f.schedule = 'heartbeat' order by f.fire_at"
        ).fetchall()


def assert_exactly_once_per_fire_time(dsn, until):
    """Every fire time from the first to `until` has one fire row and exactly one task."""
    with psycopg.connect(dsn) as conn:
        anchor, since = conn.execute(
            "select anchor_at, updated_at from pgtask.schedules where name = 'heartbeat'"
        ).fetchone()
        tasks = conn.execute("select count(*) from pgtask.tasks where task_type = 'tick.task'"
                             ).fetchone()[0]
    got = fires(dsn)
    timing = Timing(every=EVERY_SECOND.every, anchor=anchor)
    expected = timing.between(timing.next_after(since), until)
    assert [f[0] for f in got][:len(expected)] == expected, "a fire time was lost or invented"
    assert all(f[2] == 1 for f in got), "a fire time has more than one task"
    assert tasks == len(got) == len({f[1] for f in got})
    return len(expected)


def test_five_schedulers_enqueue_one_task_per_second(dsn):
    async def main():
        async with open_schedules(dsn) as schedules:
            await schedules.add(EVERY_SECOND)
        stop = asyncio.Event()
        schedulers = [asyncio.create_task(run_scheduler(dsn, stop, tick=0.2)) for _ in range(5)]
        started = time.monotonic()
        while len(fires(dsn)) < 10 or time.monotonic() - started < 10:
            await asyncio.sleep(0.25)
            assert time.monotonic() - started < 30, "schedulers fell behind"
        stop.set()
        await asyncio.gather(*schedulers)
        with psycopg.connect(dsn) as conn:
            return conn.execute("select now()").fetchone()[0]

    stopped_at = asyncio.run(main())
    # Fire times up to shortly before the stop were all due while some scheduler ran.
    assert assert_exactly_once_per_fire_time(dsn, stopped_at - timedelta(seconds=1)) >= 9


def _leader(dsn):
    """application_name of the session holding the scheduler lock, or None."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid"
            " where l.locktype = 'advisory' and l.granted and l.database ="
            "       (select oid from pg_database where datname = current_database())"
            "   and l.classid::bigint = %s and l.objid::bigint = %s",
            (SCHEDULER_LOCK_KEY >> 32, SCHEDULER_LOCK_KEY & 0xFFFFFFFF)).fetchone()
    return row[0] if row else None


@pytest.mark.slow
def test_killing_the_leader_hands_over_without_losing_or_doubling(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgtask.add_schedule('heartbeat', 'tick.task', every => '1 second')")
    procs = {}
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "tests.taskmasters.scheduler_main", dsn],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        procs[f"sched-{proc.pid}"] = proc
    try:
        for _round in range(2):
            leader = wait_until(lambda: _leader(dsn), timeout=20, message="a leader")
            seen = len(fires(dsn))
            wait_until(lambda seen=seen: len(fires(dsn)) >= seen + 3, timeout=20,
                       message="fires")
            procs.pop(leader).kill()  # SIGKILL: no goodbye, the server ends its session
            killed_at = time.monotonic()
            successor = wait_until(lambda: (_leader(dsn) or "") in procs and _leader(dsn),
                                   timeout=20, message="a new leader")
            takeover = time.monotonic() - killed_at
            assert successor != leader and takeover < 5, f"takeover took {takeover:.1f}s"
            print(f"leader {leader} killed; {successor} took over in {takeover:.2f}s")
        seen = len(fires(dsn))
        wait_until(lambda: len(fires(dsn)) >= seen + 3, timeout=20, message="fires after handover")
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(timeout=20)
    with psycopg.connect(dsn) as conn:
        now = conn.execute("select now()").fetchone()[0]
    assert assert_exactly_once_per_fire_time(dsn, now - timedelta(seconds=1)) >= 8
