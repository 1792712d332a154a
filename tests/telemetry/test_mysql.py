"""MySQL/MariaDB parity: the enqueuing span's trace context is stored and reaches the claim
(before: no trace_context column on pgtask_tasks)."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import SpanKind

import pgtask
from pgtask.store.mysql.store import connect

pytestmark = pytest.mark.mysql


def test_trace_context_round_trips_through_enqueue_and_claim(mysql_dsn, tracer):
    from pgtask.store import make_store

    conn = connect(mysql_dsn)
    try:
        with tracer.start_as_current_span("GET /signup", kind=SpanKind.SERVER) as request:
            traced = pgtask.enqueue_many(conn, [("t.x", {"n": 1}), ("t.x", {"n": 2})])
        [bare] = pgtask.enqueue_many(conn, [("t.x", {})])
        conn.commit()
        with conn.cursor() as cur:  # garbage a raw INSERT may write: the claim still works
            cur.execute("INSERT INTO pgtask_tasks (task_type, trace_context) "
                        "VALUES ('t.x', '{\"traceparent\": [1, 2]}')")
        conn.commit()
    finally:
        conn.close()

    async def claim():
        store = make_store(mysql_dsn)
        await store.open()
        try:
            return await store.claim(None, "w1", 10, None)
        finally:
            await store.close()

    claimed = {t.id: t.trace_context for t in asyncio.run(claim())}
    ours = request.get_span_context()
    expected = f"00-{ours.trace_id:032x}-{ours.span_id:016x}-{ours.trace_flags:02x}"
    assert [claimed[i] for i in traced] == [{"traceparent": expected}] * 2
    assert claimed[bare] is None
    assert {"traceparent": [1, 2]} in claimed.values()


def test_the_schema_refuses_a_trace_context_that_is_not_a_small_object(mysql_dsn):
    """The cap holds on MySQL/MariaDB too, for a raw INSERT (before: no column)."""
    import pymysql

    conn = connect(mysql_dsn)
    try:
        for bad in ('"00-abc"', '[1]', '{"tracestate": "' + "x" * 5000 + '"}'):
            with conn.cursor() as cur, pytest.raises(pymysql.err.OperationalError) as refused:
                cur.execute("INSERT INTO pgtask_tasks (task_type, trace_context) "
                            "VALUES ('t.x', %s)", (bad,))
            assert "tasks_trace_context_is_small_object" in str(refused.value)
    finally:
        conn.close()
