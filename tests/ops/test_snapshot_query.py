"""The snapshot query on a database seeded with known tasks returns the expected numbers.

Everything happens at instants relative to a fixed T, passed as the functions' `now`.
"""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pgtask.ops.snapshot import SPARK_SECONDS, from_rows
from pgtask.ops.window import Window
from pgtask.store.postgres.inspect import top_rows

T = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def _claim(db, now) -> tuple:
    row = db.execute("select id, lease_token from pgtask.claim_task(array['alpha'], 'w1', 1, "
                     "now => %s)", (now,)).fetchone()
    return row["id"], row["lease_token"]


@pytest.fixture
def seeded(db):
    db.execute("select pgtask.configure_queue('alpha', '{\"lease\": \"10 minutes\"}')")
    db.execute("select pgtask.configure_queue('beta', '{\"concurrency_limit\": 3, "
               "\"rate_limit\": 2.5, \"rate_burst\": 5}')")
    db.execute("select pgtask.set_queue_paused('beta', true)")
    # Long dead: it failed two hours ago, outside every window.
    old = db.execute("select pgtask.enqueue_task('t.x', '{}', 'alpha', %s) as id",
                     (at(-3 * 3600),)).fetchone()["id"]
    lease = _claim(db, at(-2 * 3600 - 5))
    db.execute("select pgtask.fail_task(%s, %s, 'old', permanent => true, now => %s)",
               (old, lease[1], at(-2 * 3600)))
    ids = [db.execute("select pgtask.enqueue_task('t.x', '{}', 'alpha', %s) as id",
                      (at(-60),)).fetchone()["id"] for _ in range(7)]
    db.execute("select pgtask.enqueue_task('t.x', '{}', 'alpha', %s)", (at(3600),))  # scheduled
    a1, a2, a3 = _claim(db, at(-50)), _claim(db, at(-40)), _claim(db, at(-30))
    db.execute("select pgtask.complete_task(%s, %s, now => %s)", (*a3, at(-20)))
    a4, a5 = _claim(db, at(-10)), _claim(db, at(-9))
    db.execute("select pgtask.fail_task(%s, %s, 'retry me', now => %s)", (*a4, at(-8)))
    db.execute("select pgtask.complete_task(%s, %s, now => %s)", (*a1, at(-5)))
    db.execute("select pgtask.complete_task(%s, %s, now => %s)", (*a2, at(-3)))
    db.execute("select pgtask.fail_task(%s, %s, 'fatal', permanent => true, now => %s)",
               (*a5, at(-2)))
    a6 = _claim(db, at(-1))
    assert [a[0] for a in (a1, a2, a3, a4, a5, a6)] == ids[:6]
    db.execute("select pgtask.register_worker('fresh', 'host-a', 11, array['alpha'], null, 8, "
               "now => %s)", (at(-2),))
    db.execute("select pgtask.register_worker('silent', 'host-b', 22, null, null, 4, now => %s)",
               (at(-120),))
    return db


def test_snapshot_numbers(seeded):
    snap = from_rows(top_rows(seeded, now=T))
    assert snap.at == T
    alpha, beta = snap.queues
    assert (alpha.name, beta.name) == ("alpha", "beta")
    # a4 (back from its failure) and a7 are ready; one is scheduled; a6 runs.
    assert (alpha.queued, alpha.scheduled, alpha.running, alpha.dead_1h) == (2, 1, 1, 1)
    assert alpha.lag == pytest.approx(60)
    # Completed: a1 at T-5, a2 at T-3 (10 s window), a3 at T-20 (1 min).
    assert (alpha.completed.s10, alpha.completed.m1, alpha.completed.m5) == \
        pytest.approx((2 / 10, 3 / 60, 3 / 300))
    # Failed attempts: a4's retried failure (hot row) and a5's death (history).
    assert (alpha.failed.s10, alpha.failed.m1, alpha.failed.m5) == \
        pytest.approx((2 / 10, 2 / 60, 2 / 300))
    # Pickups claimed within the last minute: 10, 20, 30 (a1-a3), 51 (a5), 59 (a6 running).
    assert alpha.pickup == pytest.approx((30, 51 + 0.8 * 8, 51 + 0.96 * 8))
    series = alpha.per_second
    assert len(series) == SPARK_SECONDS and sum(series) == 3
    # The series ends one second back (at T-1, see UNTIL): T-5 is 4 seconds before its end.
    assert series[-1 - 4] == 1 and series[-1 - 2] == 1 and series[-1 - 19] == 1
    assert beta.paused and (beta.concurrency_limit, beta.rate_limit, beta.rate_burst) == (3, 2.5, 5)
    assert (beta.queued, beta.running, beta.completed.m5, beta.pickup) == (0, 0, 0, None)
    assert snap.throughput() == series


def test_refreshes_that_read_only_new_history_add_up_to_one_full_read(seeded):
    window = Window()
    for seconds in (-200, -30, -10, -4, -2, 0):  # each refresh reads (previous until, until]
        incremental = from_rows(top_rows(seeded, since=window.until, now=at(seconds)), window)
    assert window.until == at(-1)
    full = from_rows(top_rows(seeded, now=T))
    assert incremental == full


def test_snapshot_workers(seeded):
    snap = from_rows(top_rows(seeded, now=T))
    fresh, silent = snap.workers
    assert (fresh.host, fresh.pid, fresh.queues, fresh.concurrency) == ("host-a", 11, ("alpha",), 8)
    assert fresh.heartbeat_age == pytest.approx(2) and silent.heartbeat_age == pytest.approx(120)
    assert silent.queues is None and silent.uptime == pytest.approx(120)


def test_snapshot_windows_move_with_now(seeded):
    later = from_rows(top_rows(seeded, now=at(3600 + 10)))
    alpha = later.queues[0]
    assert alpha.completed.m5 == 0 and alpha.failed.m5 == 0 and alpha.pickup is None
    assert alpha.dead_1h == 0  # a5 died at T-2, more than an hour before
    assert alpha.queued == 3 and alpha.scheduled == 0  # the scheduled task is due


def test_health_sees_the_hot_table_and_notify(seeded):
    health = from_rows(top_rows(seeded)).health
    assert health.notify_trigger is True and health.notify_queue_usage == 0
    seeded.execute("alter table pgtask.tasks disable trigger tasks_notify")
    assert from_rows(top_rows(seeded)).health.notify_trigger is False


def test_xmin_holder_is_the_open_repeatable_read_transaction(seeded, dsn):
    assert from_rows(top_rows(seeded)).health.xmin_holders == ()
    with psycopg.connect(dsn) as holder:
        holder.execute("set transaction isolation level repeatable read")
        holder.execute("select count(*) from pgtask.tasks")
        holders = from_rows(top_rows(seeded)).health.xmin_holders
        pid = str(holder.info.backend_pid)
        assert [(h.kind, h.name) for h in holders] == [("transaction", pid)]
        assert "idle in transaction" in holders[0].detail
        assert holders[0].seconds >= 0


def test_an_empty_database(db):
    snap = from_rows(top_rows(db))
    assert snap.queues == () and snap.workers == ()
    assert snap.throughput() == (0,) * SPARK_SECONDS
