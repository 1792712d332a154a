"""Enqueue: n tasks one by one (a transaction each) and in bulk (one transaction), through
each system's own API, plus pgtask's SQL functions and a bare INSERT baseline.

Runs in this process: "client CPU" is this process's CPU time, the Postgres side is the
backends connected to the scenario's database. Only the enqueueing is timed (measure.Lap),
not connecting; the caller's own data (payloads) is built before the clock starts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

import measure
from measure import Lap
from systems import SYSTEMS

BARE_ONE = "insert into bench_jobs (payload) values (%s::jsonb)"
BARE_BULK = "insert into bench_jobs (payload) select unnest(%s::jsonb[])"
SQL_ONE = "select pgtask.enqueue_task('bench.noop', %s::jsonb)"
SQL_BULK = "select pgtask.enqueue_tasks(array_fill('bench.noop'::text, array[%s]), %s::jsonb[])"


def _texts(n: int) -> list[str]:
    return [json.dumps({"i": i}) for i in range(n)]


def _sql_one_by_one(query: str) -> Callable[[str, int, Lap], None]:
    def run(dsn: str, n: int, lap: Lap) -> None:
        payloads = _texts(n)
        with psycopg.connect(dsn) as conn:
            lap.start()
            for p in payloads:
                conn.execute(query, (p,))
                conn.commit()
            lap.done()
    return run


def bare_bulk(dsn: str, n: int, lap: Lap) -> None:
    payloads = _texts(n)
    with psycopg.connect(dsn) as conn:
        lap.start()
        conn.execute(BARE_BULK, (payloads,))
        conn.commit()
        lap.done()


def sql_bulk(dsn: str, n: int, lap: Lap) -> None:
    payloads = _texts(n)
    with psycopg.connect(dsn) as conn:
        lap.start()
        conn.execute(SQL_BULK, (n, payloads))
        conn.commit()
        lap.done()


def pgtask_one(dsn: str, n: int, lap: Lap) -> None:
    import pgtask

    payloads = [{"i": i} for i in range(n)]
    with psycopg.connect(dsn) as conn:
        lap.start()
        for p in payloads:
            pgtask.enqueue(conn, "bench.noop", p)
            conn.commit()
        lap.done()


def pgtask_one_async(dsn: str, n: int, lap: Lap) -> None:
    import pgtask

    payloads = [{"i": i} for i in range(n)]

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            lap.start()
            for p in payloads:
                await pgtask.aenqueue(conn, "bench.noop", p)
                await conn.commit()
            lap.done()

    asyncio.run(go())


def pgqueuer_one(dsn: str, n: int, lap: Lap) -> None:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries

    payloads = [json.dumps({"i": i}).encode() for i in range(n)]

    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        queries = Queries(AsyncpgDriver(conn))
        lap.start()
        for p in payloads:  # asyncpg autocommits: a transaction per statement
            await queries.enqueue("noop", p)
        lap.done()
        await conn.close()

    asyncio.run(go())


def procrastinate_one(dsn: str, n: int, lap: Lap) -> None:
    from peer_procrastinate import app_for, noop

    async def go() -> None:
        with app_for(dsn) as app:
            async with app.open_async():
                lap.start()
                for i in range(n):  # each defer is its own transaction
                    await noop.defer_async(i=i)
                lap.done()

    asyncio.run(go())


@dataclass(frozen=True)
class Method:
    name: str
    mode: str  # "one-by-one" or "bulk"
    run: Callable[[str, int, Lap], None]


METHODS = [
    Method("bare INSERT + commit", "one-by-one", _sql_one_by_one(BARE_ONE)),
    Method("pgtask SQL enqueue_task", "one-by-one", _sql_one_by_one(SQL_ONE)),
    Method("pgtask.enqueue (psycopg)", "one-by-one", pgtask_one),
    Method("pgtask.aenqueue (async psycopg)", "one-by-one", pgtask_one_async),
    Method("pgqueuer Queries.enqueue", "one-by-one", pgqueuer_one),
    Method("procrastinate defer_async", "one-by-one", procrastinate_one),
    Method("bare INSERT ... unnest", "bulk", bare_bulk),
    Method("pgtask SQL enqueue_tasks", "bulk", sql_bulk),
    Method("pgtask.enqueue_many", "bulk", SYSTEMS["pgtask"].enqueue),
    Method("pgqueuer Queries.enqueue(lists)", "bulk", SYSTEMS["pgqueuer"].enqueue),
    Method("procrastinate batch_defer_async", "bulk", SYSTEMS["procrastinate"].enqueue),
]


def enqueue_once(server: measure.Server, template: str, method: Method, n: int) -> dict:
    name = server.create("bench_enq", template)
    dsn = server.dsn(name)
    try:
        with psycopg.connect(dsn, autocommit=True) as monitor:
            lap = Lap(measure.CpuMeter(monitor))
            method.run(dsn, n, lap)
    finally:
        server.drop(name)
    cpu = lap.cpu
    return {"seconds": lap.elapsed, "tasks_per_s": n / lap.elapsed,
            "client_us_per_task": cpu["bench"] / n * 1e6,
            "postgres_us_per_task": cpu["postgres"] / n * 1e6,
            "other_load_pct": 100 * (cpu["machine"] - cpu["postgres"] - cpu["bench"])
            / (2 * lap.elapsed)}
