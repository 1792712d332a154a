"""Notifications are hints, never commands: any role may NOTIFY any channel, so the worker
asks the database before it stops a run, and a malformed payload stops nothing."""

from __future__ import annotations

import asyncio
import threading

import psycopg
import pytest

import pgtask
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until

MALFORMED = ["not-a-number", "", " 7", "-1", "\u0661\u0662", "9" * 40, "1; select 1", "\x1b[2J"]


@pytest.fixture
def conn(dsn):
    with psycopg.connect(dsn, autocommit=True, row_factory=psycopg.rows.dict_row) as c:
        yield c


@pytest.fixture
def registry():
    reg = pgtask.Registry()
    reg.seen = []
    reg.release = threading.Event()

    @reg.task("h.wait")
    async def wait(task):
        reg.seen.append((task.id, "started"))
        try:
            while not reg.release.is_set():
                await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            reg.seen.append((task.id, "cancelled"))
            raise
        return "done"

    @reg.task("h.quick")
    async def quick(task):
        return "done"

    return reg


def finished(conn, task_id):
    return lambda: conn.execute("select * from pgtask.task_history where id = %s",
                                (task_id,)).fetchone()


def listening(conn):
    """The worker's LISTEN session has run its last LISTEN (on the cancel channel)."""
    return conn.execute(
        "select 1 from pg_stat_activity where application_name = 'pgtask-listener' "
        "and datname = current_database() and state = 'idle' "
        "and query ilike 'listen%pgtask_cancel%'").fetchone()


def lease_of(conn, task_id):
    return conn.execute("select lease_expires_at from pgtask.tasks where id = %s",
                        (task_id,)).fetchone()["lease_expires_at"]


def test_a_forged_cancel_notification_does_not_stop_a_run(dsn, conn, registry):
    task_id = pgtask.enqueue(conn, "h.wait")
    with running_worker(dsn, registry, heartbeat_interval=20, shutdown_timeout=1):
        wait_until(lambda: (task_id, "started") in registry.seen, message="the run started")
        wait_until(lambda: listening(conn), message="the worker listening")
        before = lease_of(conn, task_id)
        conn.execute("select pg_notify('pgtask_cancel', %s)", (str(task_id),))
        # The worker asked the database (one heartbeat): the lease moved, the run goes on.
        wait_until(lambda: lease_of(conn, task_id) > before, message="a heartbeat on the hint")
        registry.release.set()
        row = wait_until(finished(conn, task_id), message="the run finished")
    assert row["state"] == "succeeded"
    assert (task_id, "cancelled") not in registry.seen


def test_a_real_cancel_still_stops_the_run_it_names(dsn, conn, registry):
    task_id = pgtask.enqueue(conn, "h.wait")
    with running_worker(dsn, registry, heartbeat_interval=20, shutdown_timeout=1):
        wait_until(lambda: (task_id, "started") in registry.seen, message="the run started")
        wait_until(lambda: listening(conn), message="the worker listening")
        assert conn.execute("select pgtask.cancel_task(%s) as ok", (task_id,)).fetchone()["ok"]
        wait_until(lambda: (task_id, "cancelled") in registry.seen,
                   message="the handler saw the cancellation")
    assert finished(conn, task_id)()["state"] == "cancelled"


def test_malformed_cancel_payloads_are_ignored_and_wakeups_go_on(dsn, conn, registry, caplog):
    with running_worker(dsn, registry, poll_interval=60):  # a prompt pickup needs NOTIFY
        wait_until(lambda: listening(conn) and conn.execute(
            "select bool_or(waiting) as w from pgtask.workers").fetchone()["w"],
            message="the worker waiting for NOTIFY")
        for payload in MALFORMED:
            conn.execute("select pg_notify('pgtask_cancel', %s)", (payload,))
        task_id = pgtask.enqueue(conn, "h.quick")
        row = wait_until(finished(conn, task_id), timeout=10,
                         message="a NOTIFY pickup after the malformed cancels")
    assert row["state"] == "succeeded"
    assert "not a task id" in caplog.text
    assert "\x1b" not in caplog.text  # shown as data (repr), never as a control sequence
