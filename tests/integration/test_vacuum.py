"""Workers vacuum the hot table after every few thousand finished tasks and when a burst
ends, one at a time across workers (store.vacuum_hot_table under a session try-lock)."""

from __future__ import annotations

import asyncio

import psycopg

import pgtask
from pgtask.store import open_store
from pgtask.store.locks import VACUUM_LOCK_KEY
from pgtask.worker.vacuum import VACUUM_WHEN_IDLE_AFTER, HotTableVacuum
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until

VACUUMS = "select vacuum_count from pg_stat_user_tables where relid = 'pgtask.tasks'::regclass"


def vacuums(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(VACUUMS).fetchone()[0]


def run_cadence(dsn: str, steps, every: int = 100) -> list[int]:
    """Apply steps ("finished", n) / ("idle",) to a cadence over a real store; the vacuum
    count after each."""

    async def scenario() -> list[int]:
        store = await open_store(dsn, max_size=2)
        cadence = HotTableVacuum(store, every=every)
        counts = []
        try:
            for step in steps:
                if step[0] == "finished":
                    cadence.finished(step[1])
                else:
                    cadence.idle()
                await asyncio.sleep(0)
                if cadence._running is not None:
                    await cadence._running
                counts.append(vacuums(dsn))
        finally:
            await cadence.close()
            await store.close()
        return counts

    return asyncio.run(scenario())


def test_a_vacuum_follows_every_n_finished_tasks(dsn):
    before = vacuums(dsn)
    assert run_cadence(dsn, [("finished", 99), ("finished", 1), ("finished", 150)]) == [
        before, before + 1, before + 2]


def test_a_burst_that_ends_is_cleaned_up_after(dsn):
    before = vacuums(dsn)
    steps = [("finished", VACUUM_WHEN_IDLE_AFTER - 1), ("idle",),  # a trickle: autovacuum's
             ("finished", 1), ("idle",), ("idle",)]
    assert run_cadence(dsn, steps, every=10**6) == [before] * 3 + [before + 1] * 2


def test_only_one_vacuum_runs_at_a_time_across_workers(dsn):
    async def attempt() -> bool:
        store = await open_store(dsn, max_size=1)
        try:
            return await store.vacuum_hot_table()
        finally:
            await store.close()

    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("select pg_advisory_lock(%s)", (VACUUM_LOCK_KEY,))
        before = vacuums(dsn)
        assert asyncio.run(attempt()) is False and vacuums(dsn) == before
        other.execute("select pg_advisory_unlock(%s)", (VACUUM_LOCK_KEY,))
    assert asyncio.run(attempt()) is True and vacuums(dsn) == before + 1


def test_a_worker_vacuums_when_a_burst_drains(dsn):
    registry = pgtask.Registry()

    @registry.task("noop")
    async def noop(ctx) -> None:
        return None

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgtask.enqueue_tasks(array_fill('noop'::text, array[%s]))",
                     (VACUUM_WHEN_IDLE_AFTER + 200,))
        before = vacuums(dsn)
        with running_worker(dsn, registry, concurrency=100):
            wait_until(lambda: not conn.execute("select count(*) from pgtask.tasks").fetchone()[0],
                       timeout=30, message="the burst drained")
            wait_until(lambda: vacuums(dsn) > before, timeout=10, message="a vacuum after it")


def test_a_role_that_may_not_vacuum_leaves_it_to_autovacuum(dsn, db):
    from tests.sql.helpers import install_roles

    install_roles(db)
    as_worker = dsn + " options='-c role=pgtask_worker'"  # a key=value DSN

    async def attempt() -> tuple[bool, bool]:
        store = await open_store(as_worker, max_size=1)
        try:
            return await store.vacuum_hot_table(), await store.vacuum_hot_table()
        finally:
            await store.close()

    before = vacuums(dsn)
    assert asyncio.run(attempt()) == (False, False) and vacuums(dsn) == before

