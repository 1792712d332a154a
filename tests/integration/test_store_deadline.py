"""Every call of a worker's store has a deadline: a call the server does not answer in time
is abandoned (DatabaseUnavailable), the statement stops on the server, and the next call
works on a fresh connection. Here the server is healthy but the call waits on a row lock an
operator holds; the silent-network case is tests/reliability/test_silent_path.py."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from pgtask.errors import DatabaseUnavailable
from pgtask.models import WorkerInfo
from pgtask.store import make_store

INFO = WorkerInfo("w-deadline", "host", 1, None, ["t"], 1)


def test_a_call_that_gets_no_answer_in_time_is_abandoned_and_the_store_recovers(dsn):
    async def body(operator: psycopg.Connection) -> tuple[float, float]:
        store = make_store(dsn, max_size=2, deadline=1.0)
        await store.open()
        try:
            await store.register_worker(INFO)
            operator.execute("begin")
            operator.execute("select 1 from pgtask.workers where id = %s for update", (INFO.id,))
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable, match="no answer from the database within 1s"):
                await store.heartbeat(INFO.id, [])
            abandoned = time.monotonic() - started
            # The statement was cancelled on the server, not left waiting behind the lock.
            waiting = operator.execute(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                "and datname = current_database()").fetchone()[0]
            operator.execute("rollback")
            started = time.monotonic()
            assert await store.heartbeat(INFO.id, []) == set()
            return abandoned, time.monotonic() - started if waiting == 0 else -1.0
        finally:
            await store.close()

    with psycopg.connect(dsn, autocommit=True) as operator:
        abandoned, next_call = asyncio.run(body(operator))
    # deadline + the grace psycopg's own cancel request gets (deadline.GRACE), with room for
    # a loaded machine; the old store waited for as long as the lock was held.
    assert 1.0 <= abandoned < 5.0, abandoned
    assert next_call >= 0, "the abandoned statement still waited on the server"
