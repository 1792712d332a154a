"""Workers as subprocesses: kill -9, self-killing tasks, signals, many processes, lost LISTEN."""

from __future__ import annotations

import signal

import psycopg
import pytest

import pgtask
from tests.support.waiting import wait_until
from tests.support.workers import chaos_runs, states

pytestmark = pytest.mark.slow


@pytest.fixture
def conn(chaos_dsn):
    with psycopg.connect(chaos_dsn, autocommit=True, row_factory=psycopg.rows.dict_row) as c:
        yield c


@pytest.fixture
def private_conn(private_chaos_dsn):
    """Like conn, on the test's own server (for tests that freeze or kill its backends)."""
    with psycopg.connect(private_chaos_dsn, autocommit=True,
                         row_factory=psycopg.rows.dict_row) as c:
        yield c


def running_count(conn) -> int:
    running = "select count(*) as n from pgtask.tasks where state = 'running'"
    return conn.execute(running).fetchone()["n"]


def test_kill_9_with_50_claimed_tasks_another_worker_finishes_them_once(conn, spawn):
    # No race with a loaded machine's clock: the victim's runs cannot end before the kill
    # (first_seconds), its leases outlast its first heartbeat (every 5 s), and the
    # rescuer's leases (claimed after the kill) outlast its runs.
    conn.execute("update pgtask.queues set lease = '8 seconds' where name = 'default'")
    payload = {"do": "sleep", "seconds": 1.5, "first_seconds": 600}
    ids = pgtask.enqueue_many(conn, [("chaos.run", payload)] * 50)
    victim = spawn("--concurrency", "50")
    wait_until(lambda: running_count(conn) == 50, timeout=60, message="50 tasks running")
    victim.kill()
    conn.execute("update pgtask.queues set lease = '60 seconds' where name = 'default'")
    rescuer = spawn("--concurrency", "50")
    wait_until(lambda: states(conn).get("succeeded") == 50, timeout=120, message="all succeeded")
    rows = conn.execute("select id, state, attempt from pgtask.task_history order by id").fetchall()
    assert [r["id"] for r in rows] == ids and all(r["state"] == "succeeded" for r in rows)
    assert all(r["attempt"] == 2 for r in rows)  # one attempt died with the victim
    assert rescuer.proc.poll() is None


def test_a_task_that_kills_its_worker_every_time_ends_dead(conn, spawn):
    conn.execute("update pgtask.queues set lease = '1 second' where name = 'default'")
    task_id = pgtask.enqueue(conn, "chaos.run", {"do": "kill"}, max_attempts=3)
    ok_id = pgtask.enqueue(conn, "chaos.run", {"do": "ok"})
    spawn("--processes", "2", "--concurrency", "1")  # the supervisor restarts killed children
    row = wait_until(lambda: conn.execute(
        "select state, attempt, message from pgtask.task_history where id = %s", (task_id,)
    ).fetchone(), timeout=60, message="the killer task to end")
    assert (row["state"], row["attempt"]) == ("dead", 3)
    assert "lease expired" in row["message"]
    assert chaos_runs(conn)[task_id] == 3
    wait_until(lambda: conn.execute("select 1 from pgtask.task_history where id = %s "
                                    "and state = 'succeeded'", (ok_id,)).fetchone())


def test_sigterm_finishes_running_work_then_exits_0(conn, spawn):
    task_id = pgtask.enqueue(conn, "chaos.run", {"do": "sleep", "seconds": 1})
    worker = spawn()
    wait_until(lambda: running_count(conn) == 1, timeout=20)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    row = conn.execute("select state from pgtask.task_history where id = %s", (task_id,)).fetchone()
    assert row["state"] == "succeeded"
    assert conn.execute("select count(*) as n from pgtask.workers").fetchone()["n"] == 0


def test_sigterm_past_the_timeout_releases_with_attempt_refunded(conn, spawn):
    task_id = pgtask.enqueue(conn, "chaos.run", {"do": "hang"})
    worker = spawn("--shutdown-timeout", "0.5")
    wait_until(lambda: running_count(conn) == 1, timeout=20)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    row = conn.execute("select state, attempt from pgtask.tasks where id = %s",
                       (task_id,)).fetchone()
    assert row == {"state": "queued", "attempt": 0}
    assert "releasing 1 unfinished task" in worker.log()


def test_second_signal_exits_at_once_and_the_lease_recovers_the_task(conn, spawn):
    conn.execute("update pgtask.queues set lease = '1 second' where name = 'default'")
    task_id = pgtask.enqueue(conn, "chaos.run", {"do": "hang"})
    worker = spawn("--shutdown-timeout", "60")
    wait_until(lambda: running_count(conn) == 1, timeout=20)
    worker.signal(signal.SIGTERM)
    wait_until(lambda: "stopping" in worker.log(), timeout=10)
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 1
    assert running_count(conn) == 1  # still leased by the dead worker...
    rescued = conn.execute("select pgtask.rescue_tasks(now() + interval '2 seconds') as n"
                           ).fetchone()
    assert rescued["n"] == 1  # ...until its lease runs out
    assert conn.execute("select state from pgtask.tasks where id = %s",
                        (task_id,)).fetchone()["state"] == "queued"


def test_8_processes_x_16_slots_never_run_a_task_twice(conn, spawn):
    ids = pgtask.enqueue_many(conn, [("chaos.run", {"do": "ok"})] * 5000)
    spawn("--processes", "8", "--concurrency", "16")
    wait_until(lambda: states(conn).get("succeeded") == 5000, timeout=180, interval=0.2,
               message="5,000 tasks done")
    runs = chaos_runs(conn)
    assert sorted(runs) == ids
    assert max(runs.values()) == 1
    pids = conn.execute("select count(distinct pid) as n from public.chaos_runs").fetchone()["n"]
    assert pids > 1


def test_terminated_listen_backend_reconnects_and_claims_at_once(conn, spawn):
    worker = spawn("--poll-interval", "60")  # polling cannot explain a prompt pickup
    find = ("select pid from pg_stat_activity where application_name = 'pgtask-listener' "
            "and datname = current_database()")
    first = wait_until(lambda: conn.execute(find).fetchone(), timeout=20, message="listener")
    conn.execute("select pg_terminate_backend(%s)", (first["pid"],))
    task_id = pgtask.enqueue(conn, "chaos.run", {"do": "ok"})  # sent while nobody listens
    wait_until(lambda: conn.execute("select 1 from pgtask.task_history where id = %s",
                                    (task_id,)).fetchone(), timeout=10, message="prompt pickup")
    second = wait_until(lambda: conn.execute(find).fetchone(), timeout=10)
    assert second["pid"] != first["pid"]
    assert "LISTEN connection lost" in worker.log()
    later = pgtask.enqueue(conn, "chaos.run", {"do": "ok"})
    wait_until(lambda: conn.execute("select 1 from pgtask.task_history where id = %s",
                                    (later,)).fetchone(), timeout=5, message="NOTIFY works again")


def test_half_open_listen_connection_is_detected_and_replaced(private_conn, private_spawn):
    """A frozen server backend (SIGSTOP) looks like a half-open socket: no error, no answer.

    On the private server: while one backend is frozen, every DROP DATABASE on its server
    waits for it (Postgres 15 waits for all backends to absorb a barrier), and other
    tests' databases on the shared server are dropped all the time."""
    import os

    conn, spawn = private_conn, private_spawn
    worker = spawn("--poll-interval", "60")
    find = ("select pid from pg_stat_activity where application_name = 'pgtask-listener' "
            "and datname = current_database()")
    frozen = wait_until(lambda: conn.execute(find).fetchone(), timeout=20)["pid"]
    os.kill(frozen, signal.SIGSTOP)
    try:
        replaced = wait_until(
            lambda: (row := conn.execute(find + " and pid <> %s", (frozen,)).fetchone()) and row,
            timeout=20, message="a new LISTEN connection")
        assert replaced["pid"] != frozen
        task_id = pgtask.enqueue(conn, "chaos.run", {"do": "ok"})
        wait_until(lambda: conn.execute("select 1 from pgtask.task_history where id = %s",
                                        (task_id,)).fetchone(), timeout=10)
    finally:
        os.kill(frozen, signal.SIGCONT)
    assert "LISTEN connection lost" in worker.log()
