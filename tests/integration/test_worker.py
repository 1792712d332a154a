"""The runtime in-process: handler contract, outcomes, timing by database clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

import pgtask
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until
from tests.support.workers import states


@pytest.fixture
def registry():
    reg = pgtask.Registry()
    seen: dict[str, list] = {"errors": [], "runs": []}
    reg.seen = seen

    @reg.task("t.ok")
    async def ok(task):
        seen["runs"].append((task.id, task.attempt))
        return {"echo": task.payload, "attempt": task.attempt}

    @reg.task("t.sync", title="Sync one")
    def sync(task):
        task.logger.info("hello from %s", task.id)
        return [1, 2, 3]

    @reg.task("t.raise", max_attempts=3)
    def boom(task):
        seen["runs"].append((task.id, task.attempt))
        raise ValueError("boom")

    @reg.task("t.permanent")
    async def permanent(task):
        raise pgtask.Permanent("no way")

    @reg.task("t.snooze")
    async def snooze(task):
        seen["runs"].append((task.id, task.attempt))
        if len(seen["runs"]) < 3:
            raise pgtask.Retry(after=0.01)
        return "done"

    @reg.task("t.slow", timeout=0.2)
    async def slow(task):
        await asyncio.sleep(10)

    @reg.task("t.unserializable")
    async def unserializable(task):
        return object()

    @reg.task("t.hang")
    async def hang(task):
        seen["runs"].append((task.id, "started"))
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            seen["runs"].append((task.id, "cancelled"))
            raise

    @reg.on_error
    def hook(task, exc):
        seen["errors"].append((task.id, type(exc).__name__))

    return reg


@pytest.fixture
def conn(dsn):
    with psycopg.connect(dsn, autocommit=True, row_factory=psycopg.rows.dict_row) as c:
        c.execute("insert into pgtask.queues (name, min_backoff, max_backoff, backoff_jitter) "
                  "values ('default', '10 ms', '20 ms', 0)")
        yield c


def history(conn, task_id):
    return conn.execute("select * from pgtask.task_history where id = %s", (task_id,)).fetchone()


def finished(conn, task_id):
    return lambda: history(conn, task_id)


def test_success_stores_the_result_and_logs(dsn, conn, registry):
    a = pgtask.enqueue(conn, "t.ok", {"x": 1})
    b = pgtask.enqueue(conn, "t.sync")
    with running_worker(dsn, registry):
        row = wait_until(finished(conn, a), message="t.ok finished")
        wait_until(finished(conn, b), message="t.sync finished")
    assert row["state"] == "succeeded" and row["result"] == {"echo": {"x": 1}, "attempt": 1}
    assert history(conn, b)["result"] == [1, 2, 3]
    logs = conn.execute("select * from pgtask.task_logs where task_id = %s", (b,)).fetchall()
    assert [(r["level"], r["message"]) for r in logs] == [("info", f"hello from {b}")]


def test_raising_handler_runs_exactly_max_attempts_times(dsn, conn, registry):
    task_id = pgtask.enqueue(conn, registry.tasks["t.raise"])
    with running_worker(dsn, registry):
        row = wait_until(finished(conn, task_id), message="dead")
    assert row["state"] == "dead" and row["attempt"] == 3
    assert [a for i, a in registry.seen["runs"] if i == task_id] == [1, 2, 3]
    assert len(row["errors"]) == 3 and "ValueError: boom" in row["errors"][-1]["error"]
    assert registry.seen["errors"].count((task_id, "ValueError")) == 3


def test_permanent_is_dead_at_once_and_calls_the_hook(dsn, conn, registry):
    task_id = pgtask.enqueue(conn, "t.permanent")
    with running_worker(dsn, registry):
        row = wait_until(finished(conn, task_id))
    assert (row["state"], row["attempt"]) == ("dead", 1)
    assert "Permanent: no way" in row["message"]
    assert (task_id, "Permanent") in registry.seen["errors"]


def test_retry_snoozes_without_spending_attempts(dsn, conn, registry):
    task_id = pgtask.enqueue(conn, "t.snooze", max_attempts=1)
    with running_worker(dsn, registry):
        row = wait_until(finished(conn, task_id))
    assert (row["state"], row["result"]) == ("succeeded", "done")
    assert row["attempt"] == 1 and row["errors"] == []


def test_timeout_fails_the_run(dsn, conn, registry):
    task_id = pgtask.enqueue(conn, "t.slow", max_attempts=1)
    with running_worker(dsn, registry):
        row = wait_until(finished(conn, task_id))
    assert row["state"] == "dead"
    assert "exceeded its timeout of 0.2s" in row["errors"][0]["error"]


def test_unserializable_result_is_dead_with_a_clear_error(dsn, conn, registry):
    task_id = pgtask.enqueue(conn, "t.unserializable")
    with running_worker(dsn, registry):
        row = wait_until(finished(conn, task_id))
    assert row["state"] == "dead" and "not JSON serializable" in row["message"]


def test_unknown_task_type_stays_queued_and_visible(dsn, conn, registry):
    stranger = pgtask.enqueue(conn, "t.nobody.knows")
    known = pgtask.enqueue(conn, "t.ok")
    with running_worker(dsn, registry):
        wait_until(finished(conn, known))
    row = conn.execute("select state, attempt from pgtask.tasks where id = %s",
                       (stranger,)).fetchone()
    assert row == {"state": "queued", "attempt": 0}


def test_transactional_enqueue_rollback_never_runs(dsn, conn, registry):
    with psycopg.connect(dsn) as app:
        rolled_back = pgtask.enqueue(app, "t.ok", {"n": "rolled back"})
        app.rollback()
        committed = pgtask.enqueue(app, "t.ok", {"n": "committed"})
        app.commit()
    with running_worker(dsn, registry):
        wait_until(finished(conn, committed))
    assert history(conn, rolled_back) is None
    assert [i for i, _ in registry.seen["runs"]] == [committed]


def test_never_starts_before_run_at_by_database_time(dsn, conn, registry):
    task_id = pgtask.enqueue(conn, "t.ok", delay=1.0)
    with running_worker(dsn, registry, poll_interval=0.05):
        row = wait_until(finished(conn, task_id), timeout=15)
    assert row["attempted_at"] >= row["run_at"]
    assert row["run_at"] - row["created_at"] >= timedelta(seconds=1)


def test_cancel_reaches_a_running_handler_within_a_second(dsn, conn, registry):
    task_id = pgtask.enqueue(conn, "t.hang")
    with running_worker(dsn, registry):
        wait_until(lambda: (task_id, "started") in registry.seen["runs"])
        assert conn.execute("select pgtask.cancel_task(%s) as ok", (task_id,)).fetchone()["ok"]
        # Typically well under a second (NOTIFY on pgtask_cancel); the deadline here only
        # guards against "never", since wall-clock time is not asserted in tests.
        wait_until(lambda: (task_id, "cancelled") in registry.seen["runs"], timeout=5.0,
                   message="handler saw the cancellation")
    assert history(conn, task_id)["state"] == "cancelled"


def test_poll_only_mode_with_notify_disabled(dsn, conn, registry):
    with running_worker(dsn, registry, listen=False, poll_interval=0.1):
        with psycopg.connect(dsn) as app:
            app.execute("set local pgtask.notify = 'off'")
            ids = pgtask.enqueue_many(app, [("t.ok", {"i": i}) for i in range(20)])
        wait_until(lambda: states(conn).get("succeeded") == 20, message="all 20 done")
    assert len(ids) == 20


def test_graceful_stop_releases_unfinished_work_with_the_attempt_refunded(dsn, conn, registry):
    task_id = pgtask.enqueue(conn, "t.hang")
    with running_worker(dsn, registry, shutdown_timeout=0.2):
        wait_until(lambda: (task_id, "started") in registry.seen["runs"])
    row = conn.execute("select state, attempt from pgtask.tasks where id = %s",
                       (task_id,)).fetchone()
    assert row == {"state": "queued", "attempt": 0}
    assert conn.execute("select count(*) as n from pgtask.workers").fetchone()["n"] == 0


def test_worker_registers_and_heartbeats(dsn, conn, registry):
    with running_worker(dsn, registry, heartbeat_interval=0.1) as worker:
        first = wait_until(lambda: conn.execute(
            "select heartbeat_at from pgtask.workers where id = %s", (worker.id,)).fetchone())
        wait_until(lambda: conn.execute(
            "select heartbeat_at > %s as later from pgtask.workers where id = %s",
            (first["heartbeat_at"], worker.id)).fetchone()["later"], message="a later heartbeat")
        row = conn.execute("select * from pgtask.workers where id = %s", (worker.id,)).fetchone()
    assert row["task_types"] == registry.names() and row["concurrency"] == 100


def test_enqueue_many_is_one_statement_and_keeps_order(dsn, conn):
    ids = pgtask.enqueue_many(conn, [("t.ok", {"i": i}) for i in range(1000)])
    assert ids == sorted(ids) and len(set(ids)) == 1000
    payloads = conn.execute("select id, payload from pgtask.tasks order by id").fetchall()
    assert [p["payload"]["i"] for p in payloads] == list(range(1000))


def test_client_validates_before_the_database(conn):
    with pytest.raises(ValueError, match="invalid task type"):
        pgtask.enqueue(conn, "Bad Name")
    with pytest.raises(ValueError, match="priority"):
        pgtask.enqueue(conn, "t.ok", priority=5000)
    with pytest.raises(TypeError, match="payload must be a dict"):
        pgtask.enqueue(conn, "t.ok", [1, 2])
    with pytest.raises(ValueError, match="run_at or delay"):
        pgtask.enqueue(conn, "t.ok", run_at=datetime.now(UTC), delay=1)


def test_worker_metrics_count_claims_and_outcomes(dsn, conn, registry):
    import urllib.request

    from prometheus_client import CollectorRegistry
    from prometheus_client.parser import text_string_to_metric_families

    from pgtask.worker.metrics import start_worker_metrics

    with running_worker(dsn, registry) as worker:
        worker.metrics = start_worker_metrics(0, worker, registry=CollectorRegistry())
        ids = [pgtask.enqueue(conn, "t.ok", {"i": i}) for i in range(3)]  # after the hooks
        for task_id in ids:
            wait_until(finished(conn, task_id))
        page = urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics.port}/metrics").read()
        worker.metrics.close()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(page.decode())
               for s in family.samples}
    assert samples[("pgtask_worker_outcomes_total", (("outcome", "succeeded"), ("queue", "default"),
                                                     ("type", "t.ok")))] == 3
