"""Enqueue n latency tasks `interval` seconds apart, each in its own transaction whose last
statement stamps the database clock into bench_enq (so the stamp commits with the task).

    python latency_producer.py SYSTEM DSN N INTERVAL
"""

from __future__ import annotations

import asyncio
import sys
import time

import psycopg

STAMP = "insert into bench_enq (k, at) values (%s, clock_timestamp())"


def paced(n: int, interval: float):
    """0..n-1, each yielded at its slot on a fixed schedule (no drift from slow sends)."""
    t0 = time.perf_counter()
    for k in range(n):
        delay = t0 + k * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield k


async def apaced(n: int, interval: float):
    """paced() for asyncio producers."""
    t0 = time.perf_counter()
    for k in range(n):
        delay = t0 + k * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield k


def bare(dsn: str, n: int, interval: float) -> None:
    with psycopg.connect(dsn) as conn:
        for k in paced(n, interval):
            conn.execute("insert into bench_jobs (payload)"
                         " values (jsonb_build_object('k', %s::int))", (k,))
            conn.execute("select pg_notify('bench_jobs', '')")
            conn.execute(STAMP, (k,))
            conn.commit()


def pgtask_(dsn: str, n: int, interval: float) -> None:
    import pgtask

    with psycopg.connect(dsn) as conn:
        for k in paced(n, interval):
            pgtask.enqueue(conn, "bench.latency", {"k": k})
            conn.execute(STAMP, (k,))
            conn.commit()


def pgqueuer(dsn: str, n: int, interval: float) -> None:
    async def go() -> None:
        import asyncpg
        from pgqueuer import AsyncpgDriver, Queries

        conn = await asyncpg.connect(dsn)
        queries = Queries(AsyncpgDriver(conn))
        async for k in apaced(n, interval):
            async with conn.transaction():
                await queries.enqueue("latency", str(k).encode())
                await conn.execute(STAMP.replace("%s", "$1"), k)
        await conn.close()

    asyncio.run(go())


def procrastinate(dsn: str, n: int, interval: float) -> None:
    from contextlib import asynccontextmanager

    from peer_procrastinate import app, latency

    class OneConnection:
        """Stands in for procrastinate's pool so its defer runs in our transaction."""

        def __init__(self, conn) -> None:
            self.conn = conn

        @asynccontextmanager
        async def connection(self):
            yield self.conn

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            await app.open_async(pool=OneConnection(conn))
            async for k in apaced(n, interval):
                async with conn.transaction():
                    await latency.defer_async(k=k)
                    await conn.execute(STAMP, (k,))

    asyncio.run(go())


PRODUCERS = {"bare SQL": bare, "pgtask": pgtask_, "pgqueuer": pgqueuer,
             "procrastinate": procrastinate}

if __name__ == "__main__":
    system, dsn, n, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    PRODUCERS[system](dsn, n, interval)
