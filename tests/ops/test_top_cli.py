"""pgtask top --once / --json against a database with a live worker."""

import json
import threading

import psycopg
import pytest

import pgtask
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until

from .conftest import enqueue


@pytest.fixture
def gate():
    return threading.Event()


@pytest.fixture
def registry(gate):
    reg = pgtask.Registry()

    @reg.task("ops.wait")
    def wait(task):
        gate.wait(30)
        return "ok"

    @reg.task("ops.quick")
    def quick(task):
        return "done"

    return reg


def _json(run_cli, dsn) -> dict:
    result = run_cli("top", "--json", "--dsn", dsn)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_top_once_and_json_with_a_live_worker(run_cli, dsn, db, registry, gate):
    for _ in range(5):
        enqueue(db, "fast", "ops.quick")
    with running_worker(dsn, registry, concurrency=2, queues=["fast", "slow"]) as worker:
        wait_until(lambda: db.execute("select count(*) as n from pgtask.task_history "
                                      "where queue = 'fast'").fetchone()["n"] == 5,
                   message="the quick tasks to finish")
        for _ in range(3):
            enqueue(db, "slow", "ops.wait")
        # Finished work shows up once settled, a second after it finished (see UNTIL).
        snap = wait_until(lambda: (s := _json(run_cli, dsn))["queues"][1]["running"] == 2
                          and sum(s["queues"][0]["per_second"]) == 5 and s,
                          message="two slow tasks in flight and the quick ones counted")
        fast, slow = snap["queues"]
        assert (fast["name"], fast["queued"], fast["running"]) == ("fast", 0, 0)
        assert fast["completed"]["m1"] == pytest.approx(5 / 60)
        assert sum(fast["per_second"]) == 5 and fast["pickup"] is not None
        assert (slow["queued"], slow["running"]) == (1, 2)
        [row] = snap["workers"]
        assert row["id"] == worker.id and row["concurrency"] == 2
        assert set(row["queues"]) == {"fast", "slow"} and row["heartbeat_age"] < 30

        frame = run_cli("top", "--once", "--dsn", dsn)
        assert frame.code == 0, frame.err
        assert "pgtask top" in frame.out and "2 queues" in frame.out and "1 workers" in frame.out
        slow_row = next(line for line in frame.out.splitlines() if line.startswith("slow"))
        assert slow_row.split()[1:4] == ["1", "0", "2"]  # ready, scheduled, running
        assert worker.id.split(":")[0] in frame.out  # the host
        assert "STALE" not in frame.out and "NOTIFY        on" in frame.out
        gate.set()


def test_top_warns_about_a_transaction_holding_the_xmin_horizon(run_cli, dsn, db):
    enqueue(db)
    quiet = run_cli("top", "--once", "--dsn", dsn, "--xmin-warn-after", "0s")
    assert "xmin horizon  ok" in quiet.out
    with psycopg.connect(dsn) as holder:
        holder.execute("set transaction isolation level repeatable read")
        holder.execute("select count(*) from pgtask.tasks")
        pid = holder.info.backend_pid
        warned = run_cli("top", "--once", "--dsn", dsn, "--xmin-warn-after", "0s")
        assert f"⚠ pid {pid} (idle in transaction" in warned.out
        assert "vacuum cannot clean pgtask.tasks" in warned.out
        patient = run_cli("top", "--once", "--dsn", dsn)  # the default waits 60 s to warn
        assert "⚠" not in patient.out and f"oldest: pid {pid}" in patient.out


def test_top_refuses_a_silly_interval(run_cli, dsn):
    result = run_cli("top", "--interval", "10ms", "--dsn", dsn)
    assert result.code == 2 and "at least 100ms" in result.err
