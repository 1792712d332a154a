"""Schedules, chains and fan-in through a running worker and the Python API."""

from __future__ import annotations

import psycopg
import pytest

import pgtask
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until


@pytest.fixture
def conn(dsn):
    with psycopg.connect(dsn, autocommit=True, row_factory=psycopg.rows.dict_row) as c:
        yield c


def test_task_with_every_is_scheduled_by_the_worker(dsn, conn):
    registry = pgtask.Registry()

    @registry.task("tick.every", every=1)
    async def tick(task):
        return {"fired": task.payload}

    with running_worker(dsn, registry):
        rows = wait_until(lambda: (r := conn.execute(
            "select * from pgtask.task_history where task_type = 'tick.every' "
            "and state = 'succeeded'").fetchall()) and len(r) >= 2 and r,
            timeout=60, message="two scheduled runs")  # generous: CI may be busy
    fires = conn.execute("select fire_at from pgtask.schedule_fires where schedule = 'tick.every' "
                         "order by fire_at").fetchall()
    assert len(fires) == len({f["fire_at"] for f in fires})  # one task per fire time
    assert len(rows) >= 2


def test_then_chains_the_result_and_groups_fan_in(dsn, conn):
    registry = pgtask.Registry()

    @registry.task("chain.first")
    async def first(task):
        return {"value": task.payload["n"] * 10}

    @registry.task("chain.second")
    async def second(task):
        return {"got": task.payload["parent_result"]["value"]}

    @registry.task("chain.done")
    async def done(task):
        return {"members": task.payload["succeeded"]}

    head = pgtask.enqueue(conn, "chain.first", {"n": 4}, then="chain.second")
    group = pgtask.enqueue_group(conn, [("chain.first", {"n": i}) for i in range(3)],
                                 then="chain.done")
    with running_worker(dsn, registry):
        second_row = wait_until(lambda: conn.execute(
            "select * from pgtask.task_history where task_type = 'chain.second'").fetchone(),
            message="the follow-up ran")
        done_row = wait_until(lambda: conn.execute(
            "select * from pgtask.task_history where task_type = 'chain.done'").fetchone(),
            message="the group's follow-up ran")
    assert second_row["result"] == {"got": 40}
    assert second_row["parent_id"] == head
    assert done_row["result"] == {"members": 3} and group > 0
