"""The MySQL snapshot query on a database seeded with known tasks returns the expected
numbers (tests/ops/test_snapshot_query.py, on MySQL).

MySQL's store has no `now` argument, so the rows are written directly with times relative
to a fixed T, which top_rows then takes as its `now`.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest

from pgtask.ops.health_mysql import MySQLHealth
from pgtask.ops.snapshot import SPARK_SECONDS, from_rows
from pgtask.ops.window import Window
from pgtask.store.mysql.snapshot import top_rows
from pgtask.store.mysql.store import connect

from .seed import rows

pytestmark = pytest.mark.mysql
T = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    """T + seconds as a DATETIME(6) literal (naive UTC)."""
    return (T + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat(" ")


def error(seconds: float, text: str) -> str:
    return json.dumps([{"attempt": 1, "at": (T + timedelta(seconds=seconds)).isoformat(),
                        "worker_id": "w1", "error": text}])


HISTORY = """
INSERT INTO pgtask_task_history (id, queue, task_type, payload, state, priority, run_at, attempt,
  created_at, started_at, attempted_at, finished_at, errors, worker_id)
VALUES (%s, 'alpha', 't.x', '{}', %s, 0, %s, 1, %s, %s, %s, %s, %s, 'w1')
"""
HOT = """
INSERT INTO pgtask_tasks (id, queue, task_type, state, run_at, attempt, created_at, attempted_at,
  errors, lease_token, lease_expires_at, worker_id)
VALUES (%s, 'alpha', 't.x', %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


@pytest.fixture
def seeded(conn):
    rows(conn, "INSERT INTO pgtask_queues (name, lease) VALUES ('alpha', 600)")
    rows(conn, "INSERT INTO pgtask_queues (name, concurrency_limit, rate_limit, rate_burst, "
               "paused) VALUES ('beta', 3, 2.5, 5, TRUE)")
    # Long dead: it failed two hours ago, outside every window.
    old = -3 * 3600
    rows(conn, HISTORY, 1, "dead", at(old), at(old), at(-7205), at(-7205), at(-7200),
         error(-7200, "old"))
    # Enqueued at T-60: a1-a3 claimed at T-50, -40, -30 and done at T-5, -3, -20; a5 claimed
    # at T-9 and dead at T-2.
    for task_id, claimed, finished in ((2, -50, -5), (3, -40, -3), (4, -30, -20)):
        rows(conn, HISTORY, task_id, "succeeded", at(-60), at(-60), at(claimed), at(claimed),
             at(finished), "[]")
    rows(conn, HISTORY, 6, "dead", at(-60), at(-60), at(-9), at(-9), at(-2), error(-2, "fatal"))
    # a4 failed at T-8 and waits for its retry (due); a6 runs since T-1; a7 and a8 wait.
    rows(conn, HOT, 5, "queued", at(-7), 1, at(-60), at(-10), error(-8, "retry me"), None, None,
         None)
    rows(conn, HOT, 7, "running", at(-60), 1, at(-60), at(-1), "[]",
         "00000000-0000-0000-0000-000000000001", at(599), "w1")
    rows(conn, HOT, 8, "queued", at(-60), 0, at(-60), None, "[]", None, None, None)
    rows(conn, HOT, 9, "queued", at(3600), 0, at(-60), None, "[]", None, None, None)
    rows(conn, "INSERT INTO pgtask_workers (id, host, pid, queues, concurrency, started_at, "
               "heartbeat_at) VALUES ('fresh', 'host-a', 11, '[\"alpha\"]', 8, %s, %s), "
               "('silent', 'host-b', 22, NULL, 4, %s, %s)", at(-2), at(-2), at(-120), at(-120))
    return conn


def test_snapshot_numbers(seeded):
    snap = from_rows(top_rows(seeded, now=T))
    assert snap.at == T
    alpha, beta = snap.queues
    assert (alpha.name, beta.name) == ("alpha", "beta")
    assert (alpha.queued, alpha.scheduled, alpha.running, alpha.dead_1h) == (2, 1, 1, 1)
    assert alpha.lag == pytest.approx(60)
    assert (alpha.completed.s10, alpha.completed.m1, alpha.completed.m5) == \
        pytest.approx((2 / 10, 3 / 60, 3 / 300))
    # Failed attempts: a4's retried failure (hot row) and a5's death (history).
    assert (alpha.failed.s10, alpha.failed.m1, alpha.failed.m5) == \
        pytest.approx((2 / 10, 2 / 60, 2 / 300))
    # Pickups claimed within the last minute: 10, 20, 30 (a1-a3), 51 (a5), 59 (a6 running).
    assert alpha.pickup == pytest.approx((30, 51 + 0.8 * 8, 51 + 0.96 * 8))
    series = alpha.per_second
    assert len(series) == SPARK_SECONDS and sum(series) == 3
    assert series[-1 - 4] == 1 and series[-1 - 2] == 1 and series[-1 - 19] == 1
    assert beta.paused and (beta.concurrency_limit, beta.rate_limit, beta.rate_burst) == (3, 2.5, 5)
    assert (beta.queued, beta.running, beta.completed.m5, beta.pickup) == (0, 0, 0, None)
    assert snap.throughput() == series
    assert isinstance(snap.health, MySQLHealth) and snap.health.available
    json.loads(snap.to_json())  # every value serialisable: no Decimal, no naive datetime


def test_refreshes_that_read_only_new_history_add_up_to_one_full_read(seeded):
    window = Window()
    for seconds in (-200, -30, -10, -4, -2, 0):
        incremental = from_rows(top_rows(seeded, since=window.until, now=T + timedelta(
            seconds=seconds)), window)
    assert window.until == T - timedelta(seconds=1)
    full = from_rows(top_rows(seeded, now=T))
    assert incremental.queues == full.queues and incremental.workers == full.workers


def test_snapshot_workers(seeded):
    fresh, silent = from_rows(top_rows(seeded, now=T)).workers
    assert (fresh.host, fresh.pid, fresh.queues, fresh.concurrency) == ("host-a", 11, ("alpha",), 8)
    assert fresh.heartbeat_age == pytest.approx(2) and silent.heartbeat_age == pytest.approx(120)
    assert silent.queues is None and silent.uptime == pytest.approx(120)


def test_snapshot_windows_move_with_now(seeded):
    alpha = from_rows(top_rows(seeded, now=T + timedelta(seconds=3610))).queues[0]
    assert alpha.completed.m5 == 0 and alpha.failed.m5 == 0 and alpha.pickup is None
    assert alpha.dead_1h == 0
    assert alpha.queued == 3 and alpha.scheduled == 0


def test_an_empty_database(conn):
    snap = from_rows(top_rows(conn))
    assert snap.queues == () and snap.workers == ()
    assert snap.throughput() == (0,) * SPARK_SECONDS


def test_the_oldest_open_transaction_is_reported(conn, mysql_dsn):
    holder = connect(mysql_dsn)
    try:
        with holder.cursor() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            cur.execute("SELECT COUNT(*) FROM pgtask_tasks")
            thread = holder.thread_id()
        health = from_rows(top_rows(conn)).health
        oldest = health.oldest_transaction
        assert oldest is not None and oldest.seconds >= 0
        assert health.history_length is not None and health.history_length >= 0
        if oldest.thread_id != thread:  # the server is shared: another session began earlier
            assert oldest.seconds >= 0
            return
        assert oldest.detail.startswith("idle in transaction, root@")
    finally:
        holder.close()
