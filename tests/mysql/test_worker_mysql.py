"""`pgtask worker` on MariaDB as subprocesses: kill -9, many processes, signals, retries."""

from __future__ import annotations

import json
import signal
from datetime import datetime, timedelta

import pymysql
import pytest

import pgtask
from pgtask.store.mysql.store import connect
from tests.mysql.chaos_mysql import SETUP
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

pytestmark = [pytest.mark.mysql, pytest.mark.slow]
TASK = "chaos.run"  # tests.support.chaos, recording in MySQL (tests.mysql.chaos_mysql)


@pytest.fixture
def conn(mysql_dsn):
    c = connect(mysql_dsn, autocommit=True, cursorclass=pymysql.cursors.DictCursor)
    with c.cursor() as cur:
        cur.execute(SETUP)
        # Fast retries, so tests about retries do not wait on the default backoff.
        cur.execute("INSERT INTO pgtask_queues (name, min_backoff, max_backoff, backoff_jitter) "
                    "VALUES ('default', 0.01, 0.05, 0)")
    yield c
    c.close()


@pytest.fixture
def spawn(mysql_dsn, conn):
    started: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        worker = WorkerProcess(mysql_dsn, "--handlers", "tests.mysql.chaos_mysql",
                               "--poll-interval", "100ms", *args,
                               env={"MYSQL_CHAOS_DSN": mysql_dsn})
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def query(conn, sql: str, *params) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def states(conn) -> dict[str, int]:
    rows = query(conn, "SELECT state, COUNT(*) AS n FROM pgtask_all_tasks GROUP BY state")
    return {r["state"]: r["n"] for r in rows}


def runs(conn) -> dict[int, int]:
    rows = query(conn, "SELECT task_id, COUNT(*) AS n FROM chaos_runs WHERE attempt >= 0 "
                       "GROUP BY task_id")
    return {r["task_id"]: r["n"] for r in rows}


def running_count(conn) -> int:
    return query(conn, "SELECT COUNT(*) AS n FROM pgtask_tasks WHERE state = 'running'")[0]["n"]


def test_kill_9_with_claimed_tasks_another_worker_finishes_them_once(conn, spawn):
    # No race with a loaded machine's clock: the victim's runs cannot end before the kill
    # (first_seconds), its leases outlast its first heartbeat (every 5 s), and the
    # rescuer's leases (claimed after the kill) outlast its runs.
    query(conn, "UPDATE pgtask_queues SET lease = 8 WHERE name = 'default'")
    payload = {"do": "sleep", "seconds": 1.5, "first_seconds": 600}
    ids = pgtask.enqueue_many(conn, [(TASK, payload)] * 30)
    victim = spawn("--concurrency", "30")
    wait_until(lambda: running_count(conn) == 30, timeout=60, message="30 tasks running")
    victim.kill()
    query(conn, "UPDATE pgtask_queues SET lease = 60 WHERE name = 'default'")
    rescuer = spawn("--concurrency", "30")
    wait_until(lambda: states(conn).get("succeeded") == 30, timeout=120, message="all succeeded")
    rows = query(conn, "SELECT id, attempt FROM pgtask_task_history ORDER BY id")
    assert [r["id"] for r in rows] == ids
    assert all(r["attempt"] == 2 for r in rows)  # one attempt died with the victim
    assert rescuer.proc.poll() is None


def test_no_task_is_claimed_twice_by_8_processes(conn, spawn):
    ids = pgtask.enqueue_many(conn, [(TASK, {"do": "ok"})] * 400)
    spawn("--processes", "8", "--concurrency", "8")
    wait_until(lambda: states(conn).get("succeeded") == 400, timeout=90,
               message="400 tasks to succeed")
    assert runs(conn) == {task_id: 1 for task_id in ids}
    history = query(conn, "SELECT worker_id FROM pgtask_task_history")
    assert len({r["worker_id"] for r in history}) > 1


def test_sigterm_finishes_running_work_then_exits_0(conn, spawn):
    task_id = pgtask.enqueue(conn, TASK, {"do": "sleep", "seconds": 1})
    worker = spawn()
    wait_until(lambda: running_count(conn) == 1, timeout=20)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    [row] = query(conn, "SELECT state FROM pgtask_task_history WHERE id = %s", task_id)
    assert row["state"] == "succeeded"
    assert query(conn, "SELECT COUNT(*) AS n FROM pgtask_workers")[0]["n"] == 0


def test_sigterm_past_the_timeout_releases_with_attempt_refunded(conn, spawn):
    task_id = pgtask.enqueue(conn, TASK, {"do": "hang"})
    worker = spawn("--shutdown-timeout", "0.5")
    wait_until(lambda: running_count(conn) == 1, timeout=20)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    [row] = query(conn, "SELECT state, attempt FROM pgtask_tasks WHERE id = %s", task_id)
    assert row == {"state": "queued", "attempt": 0}


def test_failures_back_off_then_the_task_is_dead_after_max_attempts(conn, spawn):
    query(conn, "UPDATE pgtask_queues SET min_backoff = 0.2, max_backoff = 10 "
                "WHERE name = 'default'")
    task_id = pgtask.enqueue(conn, TASK, {"do": "raise"}, max_attempts=3)
    spawn()
    row = wait_until(lambda: query(conn, "SELECT state, attempt, message, errors "
                                         "FROM pgtask_task_history WHERE id = %s", task_id),
                     timeout=30, message="the task to end")[0]
    assert (row["state"], row["attempt"]) == ("dead", 3)
    assert "chaos raise on attempt 3" in row["message"]
    assert runs(conn) == {task_id: 3}
    at = [datetime.fromisoformat(e["at"]) for e in json.loads(row["errors"])]
    gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
    assert gaps[0] >= timedelta(seconds=0.2) and gaps[1] >= timedelta(seconds=0.4)  # doubling


def test_a_task_that_kills_its_worker_every_time_ends_dead(conn, spawn):
    query(conn, "UPDATE pgtask_queues SET lease = 1 WHERE name = 'default'")
    task_id = pgtask.enqueue(conn, TASK, {"do": "kill"}, max_attempts=2)
    ok_id = pgtask.enqueue(conn, TASK, {"do": "ok"})
    spawn("--processes", "2", "--concurrency", "1")  # the supervisor restarts killed children
    row = wait_until(lambda: query(conn, "SELECT state, attempt, message FROM pgtask_task_history "
                                         "WHERE id = %s", task_id),
                     timeout=60, message="the killer task to end")[0]
    assert (row["state"], row["attempt"]) == ("dead", 2)
    assert "lease expired" in row["message"]
    wait_until(lambda: query(conn, "SELECT 1 FROM pgtask_task_history WHERE id = %s "
                                   "AND state = 'succeeded'", ok_id))
