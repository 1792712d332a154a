"""`pgtask worker --processes P`: the supervisor's restart back-off starts again after a
healthy run, and a child that refuses to start (exit 2) stops the supervisor, exit 2.

Faults come from outside: the test SIGKILLs a child, or migrates the database "by a newer
pgtask" under the supervisor's feet; what it sees is the supervisor's own log.
"""

from __future__ import annotations

import os
import re
import signal
import time

import psycopg
import pytest

from tests.support.waiting import wait_until

STARTED = re.compile(r"started worker process 0 \(pid (\d+)\)")
RESTARTING = re.compile(r"worker process 0 exited with code -?\d+.*?restarting in ([\d.]+)s")
RESET_AFTER = 3.0  # seconds of healthy running after which a crash is not "in a row"


def pids(worker) -> list[int]:
    return [int(pid) for pid in STARTED.findall(worker.log())]


def delays(worker) -> list[float]:
    return [float(delay) for delay in RESTARTING.findall(worker.log())]


def kill_child(worker) -> None:
    """SIGKILL slot 0's current child; wait until the supervisor has started its next one."""
    started = pids(worker)
    os.kill(started[-1], signal.SIGKILL)
    wait_until(lambda: len(pids(worker)) > len(started), 30, message="the child's restart")


@pytest.mark.slow
def test_backoff_resets_after_a_healthy_run(spawn):
    worker = spawn("-p", "2", "--restart-reset-after", f"{RESET_AFTER:g}s")
    wait_until(lambda: pids(worker), 20, message="slot 0's first child")
    for _ in range(3):  # crashes in a row: each child dies at once
        kill_child(worker)
    in_a_row = delays(worker)
    assert len(in_a_row) == 3 and in_a_row[2] >= 1.0, worker.log()  # 0.25-0.5, 0.5-1, 1-2 s
    # Not synchronisation but the fault itself: the newest child runs healthily for a while.
    time.sleep(RESET_AFTER + 1)
    kill_child(worker)
    after_healthy = delays(worker)[3]
    assert after_healthy <= 0.5, worker.log()  # the first delay again, not 2-4 s
    last = [line for line in worker.log().splitlines() if "restarting in" in line][-1]
    assert "(crash 1 in a row)" in last, last


@pytest.mark.slow
def test_a_child_that_refuses_to_start_stops_the_supervisor(spawn, chaos_dsn):
    worker = spawn("-p", "2")
    wait_until(lambda: "started:" in worker.log(), 20, message="a child to serve")
    # A newer pgtask migrates the database; the next child refuses it.
    with psycopg.connect(chaos_dsn, autocommit=True) as conn:
        conn.execute("update pgtask.alembic_version set version_num = '9999'")
    os.kill(pids(worker)[-1], signal.SIGKILL)
    start = time.monotonic()
    wait_until(lambda: worker.proc.poll() is not None, 20, message="the supervisor to exit")
    log = worker.log()
    assert worker.proc.returncode == 2, log
    assert time.monotonic() - start < 20, log
    assert "written by a newer pgtask" in log and "upgrade the pgtask package" in log
    assert "worker process 0 refused to start" in log
    assert "Traceback" not in log
    assert len(delays(worker)) == 1, log  # restarted once (a crash), not again on refusal
