"""The snapshot query on a database seeded with known tasks (snapshot_seed.py) returns the
expected numbers, on either backend. The health part differs: test_health_*.py."""

import json

import pytest

from pgtask.ops.health_mysql import MySQLHealth
from pgtask.ops.snapshot import SPARK_SECONDS, Health, from_rows
from pgtask.ops.window import Window

from .backends import OpsBackend
from .snapshot_seed import T, at, seed

HEALTH = {"postgres": Health, "mysql": MySQLHealth}


@pytest.fixture
def seeded(backend: OpsBackend) -> OpsBackend:
    seed(backend)
    return backend


def test_snapshot_numbers(seeded):
    snap = from_rows(seeded.operator.top_rows(now=T))
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
    assert isinstance(snap.health, HEALTH[seeded.name])
    if isinstance(snap.health, MySQLHealth):
        assert snap.health.available
    json.loads(snap.to_json())  # every value serialisable: no Decimal, no naive datetime


def test_refreshes_that_read_only_new_history_add_up_to_one_full_read(seeded):
    window = Window()
    for seconds in (-200, -30, -10, -4, -2, 0):  # each refresh reads (previous until, until]
        incremental = from_rows(seeded.operator.top_rows(since=window.until, now=at(seconds)),
                                window)
    assert window.until == at(-1)
    full = from_rows(seeded.operator.top_rows(now=T))
    assert incremental.queues == full.queues and incremental.workers == full.workers
    if not isinstance(full.health, MySQLHealth):  # MySQL's is the shared server's, live
        assert incremental == full


def test_snapshot_workers(seeded):
    fresh, silent = from_rows(seeded.operator.top_rows(now=T)).workers
    assert (fresh.host, fresh.pid, fresh.queues, fresh.concurrency) == ("host-a", 11, ("alpha",), 8)
    assert fresh.heartbeat_age == pytest.approx(2) and silent.heartbeat_age == pytest.approx(120)
    assert silent.queues is None and silent.uptime == pytest.approx(120)


def test_snapshot_windows_move_with_now(seeded):
    alpha = from_rows(seeded.operator.top_rows(now=at(3600 + 10))).queues[0]
    assert alpha.completed.m5 == 0 and alpha.failed.m5 == 0 and alpha.pickup is None
    assert alpha.dead_1h == 0  # a5 died at T-2, more than an hour before
    assert alpha.queued == 3 and alpha.scheduled == 0  # the scheduled task is due


def test_an_empty_database(backend):
    snap = from_rows(backend.operator.top_rows())
    assert snap.queues == () and snap.workers == ()
    assert snap.throughput() == (0,) * SPARK_SECONDS
