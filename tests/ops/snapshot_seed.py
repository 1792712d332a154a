"""One story of known tasks, told to each backend, for the snapshot tests.

Everything happens at instants relative to a fixed T, which top_rows then takes as its `now`.
Postgres is told through its SQL functions' `now` arguments; MySQL's store has no `now`
argument, so there the rows are written directly, as those calls would have left them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from .backends import MySQLOps, OpsBackend, PostgresOps

T = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def seed(backend: OpsBackend) -> None:
    if isinstance(backend, PostgresOps):
        seed_postgres(backend)
    else:
        assert isinstance(backend, MySQLOps)
        seed_mysql(backend)


# -- Postgres -------------------------------------------------------------------------------


def _claim(pg: PostgresOps, now: datetime) -> tuple:
    row = pg.rows("select id, lease_token from pgtask.claim_task(array['alpha'], 'w1', 1, "
                  "now => %s)", now)[0]
    return row["id"], row["lease_token"]


def _enqueue(pg: PostgresOps, run_at: datetime) -> int:
    return pg.rows("select pgtask.enqueue_task('t.x', '{}', 'alpha', %s) as id", run_at)[0]["id"]


def seed_postgres(pg: PostgresOps) -> None:
    pg.rows("select pgtask.configure_queue('alpha', '{\"lease\": \"10 minutes\"}')")
    pg.rows("select pgtask.configure_queue('beta', '{\"concurrency_limit\": 3, "
            "\"rate_limit\": 2.5, \"rate_burst\": 5}')")
    pg.rows("select pgtask.set_queue_paused('beta', true)")
    # Long dead: it failed two hours ago, outside every window.
    old = _enqueue(pg, at(-3 * 3600))
    lease = _claim(pg, at(-2 * 3600 - 5))
    pg.rows("select pgtask.fail_task(%s, %s, 'old', permanent => true, now => %s)",
            old, lease[1], at(-2 * 3600))
    ids = [_enqueue(pg, at(-60)) for _ in range(7)]
    _enqueue(pg, at(3600))  # scheduled
    a1, a2, a3 = _claim(pg, at(-50)), _claim(pg, at(-40)), _claim(pg, at(-30))
    pg.rows("select pgtask.complete_task(%s, %s, now => %s)", *a3, at(-20))
    a4, a5 = _claim(pg, at(-10)), _claim(pg, at(-9))
    pg.rows("select pgtask.fail_task(%s, %s, 'retry me', now => %s)", *a4, at(-8))
    pg.rows("select pgtask.complete_task(%s, %s, now => %s)", *a1, at(-5))
    pg.rows("select pgtask.complete_task(%s, %s, now => %s)", *a2, at(-3))
    pg.rows("select pgtask.fail_task(%s, %s, 'fatal', permanent => true, now => %s)",
            *a5, at(-2))
    a6 = _claim(pg, at(-1))
    assert [a[0] for a in (a1, a2, a3, a4, a5, a6)] == ids[:6]
    pg.rows("select pgtask.register_worker('fresh', 'host-a', 11, array['alpha'], null, 8, "
            "now => %s)", at(-2))
    pg.rows("select pgtask.register_worker('silent', 'host-b', 22, null, null, 4, now => %s)",
            at(-120))


# -- MySQL ----------------------------------------------------------------------------------


def naive(seconds: float) -> str:
    """T + seconds as a DATETIME(6) literal (naive UTC)."""
    return at(seconds).replace(tzinfo=None).isoformat(" ")


def error(seconds: float, text: str) -> str:
    return json.dumps([{"attempt": 1, "at": at(seconds).isoformat(), "worker_id": "w1",
                        "error": text}])


HISTORY = """
INSERT INTO pgtask.task_history (id, queue, task_type, payload, state, priority, run_at, attempt,
  created_at, started_at, attempted_at, finished_at, errors, worker_id)
VALUES (%s, 'alpha', 't.x', '{}', %s, 0, %s, 1, %s, %s, %s, %s, %s, 'w1')
"""
HOT = """
INSERT INTO pgtask.tasks (id, queue, task_type, state, run_at, attempt, created_at, attempted_at,
  errors, lease_token, lease_expires_at, worker_id)
VALUES (%s, 'alpha', 't.x', %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def seed_mysql(my: MySQLOps) -> None:
    t = naive
    my.rows("INSERT INTO pgtask.queues (name, lease) VALUES ('alpha', 600)")
    my.rows("INSERT INTO pgtask.queues (name, concurrency_limit, rate_limit, rate_burst, "
            "paused) VALUES ('beta', 3, 2.5, 5, TRUE)")
    # Long dead: it failed two hours ago, outside every window.
    old = -3 * 3600
    my.rows(HISTORY, 1, "dead", t(old), t(old), t(-7205), t(-7205), t(-7200), error(-7200, "old"))
    # Enqueued at T-60: a1-a3 claimed at T-50, -40, -30 and done at T-5, -3, -20; a5 claimed
    # at T-9 and dead at T-2.
    for task_id, claimed, finished in ((2, -50, -5), (3, -40, -3), (4, -30, -20)):
        my.rows(HISTORY, task_id, "succeeded", t(-60), t(-60), t(claimed), t(claimed),
                t(finished), "[]")
    my.rows(HISTORY, 6, "dead", t(-60), t(-60), t(-9), t(-9), t(-2), error(-2, "fatal"))
    # a4 failed at T-8 and waits for its retry (due); a6 runs since T-1; a7 and a8 wait.
    my.rows(HOT, 5, "queued", t(-7), 1, t(-60), t(-10), error(-8, "retry me"), None, None, None)
    my.rows(HOT, 7, "running", t(-60), 1, t(-60), t(-1), "[]",
            "00000000-0000-0000-0000-000000000001", t(599), "w1")
    my.rows(HOT, 8, "queued", t(-60), 0, t(-60), None, "[]", None, None, None)
    my.rows(HOT, 9, "queued", t(3600), 0, t(-60), None, "[]", None, None, None)
    my.rows("INSERT INTO pgtask.workers (id, host, pid, queues, concurrency, started_at, "
            "heartbeat_at) VALUES ('fresh', 'host-a', 11, '[\"alpha\"]', 8, %s, %s), "
            "('silent', 'host-b', 22, NULL, 4, %s, %s)", t(-2), t(-2), t(-120), t(-120))
