"""Queue limits deliver what they say on MariaDB too (issue 16, items 3 and 5), with worker
processes at the default 1 s poll: a worker turned away by a rate limit sleeps until the
next token, and one waiting on a full concurrency limit looks again every SLOT_POLL (no
NOTIFY here). Measured from the database's own timestamps."""

from __future__ import annotations

import json

import pymysql
import pytest

from pgtask.store.mysql.store import connect
from tests.integration.test_queue_limits import queue_set
from tests.mysql.chaos_mysql import SETUP
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.mysql, pytest.mark.slow]


@pytest.fixture
def conn(mysql_dsn):
    c = connect(mysql_dsn, autocommit=True, cursorclass=pymysql.cursors.DictCursor)
    with c.cursor() as cur:
        cur.execute(SETUP)
    yield c
    c.close()


@pytest.fixture
def spawn(mysql_dsn, spawn_on):
    """Chaos workers recording in MySQL, at the default 1 s poll."""
    return lambda *args: spawn_on(mysql_dsn, "--handlers", "tests.mysql.chaos_mysql", *args,
                                  env={"MYSQL_CHAOS_DSN": mysql_dsn})


def one(conn, sql: str, *params):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def setup_queue(mysql_dsn: str, conn, queue: str, count: int, payload: dict, *args: str):
    queue_set(mysql_dsn, queue, *args)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO pgtask_tasks (queue, task_type, payload, priority)"
                        " VALUES (%s, 'chaos.run', %s, 0)",
                        [(queue, json.dumps(payload))] * count)


def finished(conn, queue: str) -> int:
    return one(conn, "SELECT COUNT(*) AS n FROM pgtask_task_history WHERE queue = %s", queue)["n"]


def test_a_rate_of_5_per_second_delivers_5_per_second(mysql_dsn, conn, spawn):
    setup_queue(mysql_dsn, conn, "rated", 300, {"do": "ok"}, "--rate", "5/s")
    for _ in range(2):
        spawn("--queue", "rated", "--concurrency", "10")
    wait_until(lambda: finished(conn, "rated") >= 120, timeout=40, message="24 s at 5/s")
    first = one(conn, "SELECT MIN(attempted_at) AS t FROM pgtask_task_history"
                " WHERE queue = 'rated'")["t"]
    claimed = one(conn, "SELECT COUNT(*) AS n FROM pgtask_all_tasks WHERE queue = 'rated'"
                  " AND attempted_at >= %s + INTERVAL 1 SECOND"
                  " AND attempted_at < %s + INTERVAL 21 SECOND", first, first)["n"]
    rate = claimed / 20
    print(f"MySQL rate limit 5/s: {claimed} claims in 20 s = {rate:.2f}/s")
    assert 4.5 <= rate <= 5.5, f"{rate:.2f}/s"


def test_a_concurrency_limit_of_3_across_two_processes_keeps_3_running(mysql_dsn, conn, spawn):
    setup_queue(mysql_dsn, conn, "slots", 66, {"do": "sleep", "seconds": 1},
                "--concurrency-limit", "3")
    for _ in range(2):
        spawn("--queue", "slots", "--concurrency", "3")
    wait_until(lambda: finished(conn, "slots") == 66, timeout=60, message="66 tasks, 3 slots")
    window = one(conn, "SELECT MIN(attempted_at) AS s, MAX(attempted_at) AS e"
                 " FROM pgtask_task_history WHERE queue = 'slots'")
    busy = one(conn, """
        SELECT SUM(TIMESTAMPDIFF(MICROSECOND, GREATEST(attempted_at, %s),
                                 LEAST(finished_at, %s))) / 1e6 AS busy
          FROM pgtask_task_history WHERE queue = 'slots' AND finished_at > %s
           AND attempted_at < %s""", window["s"], window["e"], window["s"], window["e"])["busy"]
    used = float(busy) / (3 * (window["e"] - window["s"]).total_seconds())
    workers = one(conn, "SELECT COUNT(DISTINCT worker_id) AS n FROM pgtask_task_history"
                  " WHERE queue = 'slots'")["n"]
    print(f"MySQL concurrency limit 3: {used:.1%} of slot-time used, {workers} workers")
    assert workers == 2
    # Each hand-off of a slot costs a finish, at most SLOT_POLL (50 ms: no NOTIFY on MySQL)
    # and a claim: 97-99% of the slot-time is used, 92.1% once on CI's loaded 2-core machine. A
    # limiter that left a slot unused (2 of 3: 67%) or waited out the poll interval (1 s
    # tasks: ~50%) stays far below 90%.
    assert used >= 0.90, f"{used:.1%} of the slot-time"
