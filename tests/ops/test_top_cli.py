"""pgtask top --once / --json against a database with a live worker, on either backend."""

import json
import threading

import pytest

import pgtask
from pgtask.cli.top import Source
from pgtask.errors import DatabaseUnavailable
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until

# Health where nothing is wrong, as --json gives it (at least these keys) and as a frame
# shows it (these lines): Postgres's, MySQL's.
HEALTHY_JSON = {"postgres": {}, "mysql": {"available": True}}
HEALTHY_LINES = {"postgres": ("NOTIFY        on",),
                 "mysql": ("InnoDB purge  history list length", "NOTIFY        none on MySQL")}


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


def _finished(backend, queue: str) -> int:
    return backend.rows("select count(*) as n from pgtask.task_history where queue = %s",
                        queue)[0]["n"]


def test_top_once_and_json_with_a_live_worker(run_cli, backend, registry, gate):
    dsn = backend.dsn
    for _ in range(5):
        backend.enqueue("fast", "ops.quick")
    with running_worker(dsn, registry, concurrency=2, queues=["fast", "slow"]) as worker:
        wait_until(lambda: _finished(backend, "fast") == 5, message="the quick tasks to finish")
        for _ in range(3):
            backend.enqueue("slow", "ops.wait")
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
        for key, value in HEALTHY_JSON[backend.name].items():
            assert snap["health"][key] is value

        frame = run_cli("top", "--once", "--dsn", dsn)
        assert frame.code == 0, frame.err
        assert "pgtask top" in frame.out and "2 queues" in frame.out and "1 workers" in frame.out
        slow_row = next(line for line in frame.out.splitlines() if line.startswith("slow"))
        assert slow_row.split()[1:4] == ["1", "0", "2"]  # ready, scheduled, running
        assert worker.id.split(":")[0] in frame.out  # the host
        assert "STALE" not in frame.out
        for line in HEALTHY_LINES[backend.name]:
            assert line in frame.out
        gate.set()


def test_top_refuses_a_silly_interval(run_cli, dsn):
    result = run_cli("top", "--interval", "10ms", "--dsn", dsn)
    assert result.code == 2 and "at least 100ms" in result.err


@pytest.mark.mysql
def test_the_live_source_reconnects_after_losing_its_connection(mysql_ops):
    """MySQL: a refresh on a killed connection is DatabaseUnavailable (the live loop shows it
    and retries); the next refresh reconnects."""
    source = Source(mysql_ops.dsn)
    try:
        source.take()
        # The source's connection is the only other one on this test's own database.
        [theirs] = mysql_ops.rows("SELECT id FROM information_schema.processlist "
                                  "WHERE db = DATABASE() AND id <> CONNECTION_ID()")
        mysql_ops.rows("KILL %s", theirs["id"])
        with pytest.raises(DatabaseUnavailable, match="MySQL connection lost"):
            source.take()
        assert source.take().queues == ()
    finally:
        source.close()
