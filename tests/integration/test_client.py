"""Enqueueing from Python on every kind of connection, inside the caller's transaction."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import pgtask


def count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select count(*) from pgtask.tasks").fetchone()[0]


def test_psycopg_connection_commit_and_rollback(dsn):
    with psycopg.connect(dsn) as conn:
        pgtask.enqueue(conn, "a.b")
        conn.rollback()
        kept = pgtask.enqueue(conn, "a.b", {"k": 1}, queue="q1", priority=5, delay=60,
                              idempotency_key="key-1", max_attempts=4)
        assert pgtask.enqueue(conn, "a.b", idempotency_key="key-1", queue="q1") == kept
        conn.commit()
        row = conn.execute("select queue, priority, max_attempts, idempotency_key, "
                           "run_at - created_at >= interval '60 s' from pgtask.tasks").fetchone()
    assert row == ("q1", 5, 4, "key-1", True)
    assert count(dsn) == 1


def test_task_definition_supplies_queue_priority_and_attempts(dsn):
    registry = pgtask.Registry()

    @registry.task("mail.send", queue="mail", max_attempts=7, priority=3)
    def send(task):
        return None

    with psycopg.connect(dsn, autocommit=True) as conn:
        pgtask.enqueue(conn, send, {"to": "x"})
        row = conn.execute(
            "select task_type, queue, max_attempts, priority from pgtask.tasks").fetchone()
    assert row == ("mail.send", "mail", 7, 3)


def test_sqlalchemy_session_joins_the_callers_transaction(dsn):
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    with Session(engine) as session:
        pgtask.enqueue(session, "a.b")
        session.rollback()
    with Session(engine) as session:
        session.execute(text("create table orders (id int)"))
        session.execute(text("insert into orders values (1)"))
        pgtask.enqueue(session, "a.b", {"order": 1})
        session.commit()
    with engine.connect() as conn:
        pgtask.enqueue_many(conn, [("a.b", {"i": i}) for i in range(3)])
        conn.rollback()
    engine.dispose()
    assert count(dsn) == 1


def test_sync_and_async_pools(dsn):
    with ConnectionPool(dsn, min_size=1, max_size=2, open=True) as pool:
        assert len(pgtask.enqueue_many(pool, [("a.b", {"i": i}) for i in range(5)])) == 5

    async def main() -> list[int]:
        async with AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
            first = await pgtask.aenqueue(pool, "a.b")
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                rest = await pgtask.aenqueue_many(conn, [{"task": "a.b", "payload": {"n": 1}}])
            return [first, *rest]

    assert len(asyncio.run(main())) == 2
    assert count(dsn) == 7


def test_bulk_enqueue_of_100000_is_one_statement(dsn):
    with psycopg.connect(dsn) as conn:
        calls = []
        original = conn.cursor

        def counting_cursor(*args, **kwargs):
            calls.append(1)
            return original(*args, **kwargs)

        conn.cursor = counting_cursor
        ids = pgtask.enqueue_many(conn, (("bulk.item", {"n": n}) for n in range(100_000)))
        conn.commit()
    assert len(calls) == 1 and len(set(ids)) == 100_000
    assert count(dsn) == 100_000


def test_bad_input_raises_before_touching_the_database(dsn):
    with psycopg.connect(dsn) as conn:
        with pytest.raises(ValueError, match="invalid queue"):
            pgtask.enqueue(conn, "a.b", queue="Bad Queue")
        with pytest.raises(ValueError, match="timezone-aware"):
            import datetime

            pgtask.enqueue(conn, "a.b", run_at=datetime.datetime(2030, 1, 1))
        with pytest.raises(ValueError, match="max_attempts"):
            pgtask.enqueue(conn, "a.b", max_attempts=0)
    assert count(dsn) == 0


def test_enqueue_many_carries_every_option_in_order(dsn):
    import datetime

    at = datetime.datetime(2031, 5, 1, 12, 0, tzinfo=datetime.UTC)
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = pgtask.enqueue_many(conn, [
            {"task": "a.b", "payload": {"i": 0}, "run_at": at, "priority": 7},
            {"task": "a.b", "payload": {"i": 1}, "delay": 90, "queue": "q2", "max_attempts": 3},
            {"task": "a.b", "idempotency_key": "k", "target_url": "https://x.test/h"},
            {"task": "a.b", "idempotency_key": "k"},
            {"task": "a.b", "payload": {"i": 4}, "then": "c.d"},
        ])
        rows = {r[0]: r[1:] for r in conn.execute(
            "select id, payload, queue, run_at, priority, max_attempts, target_url, "
            "run_at - created_at >= interval '90 s', on_success from pgtask.tasks").fetchall()}
    assert ids[2] == ids[3] and len(set(ids)) == 4
    assert rows[ids[0]][2] == at and rows[ids[0]][3] == 7
    assert rows[ids[1]][1] == "q2" and rows[ids[1]][4] == 3 and rows[ids[1]][6] is True
    assert rows[ids[2]][5] == "https://x.test/h"
    assert rows[ids[4]][0] == {"i": 4} and rows[ids[4]][7][0]["task_type"] == "c.d"
