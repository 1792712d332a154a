"""Drain throughput through the Store API, Postgres vs MySQL/MariaDB, in one invocation.

For each backend: a fresh database, N tasks enqueued (enqueue_many, 1,000 per call), then
one loop of claim(batch) -> finish(batch x succeeded) until the queue is empty. Reports
tasks/s for the enqueue and for the drain, the time per claim and per finish round, and
the client's CPU per task (Python, all threads).
Then pickup latency with adaptive polling (pgtask.worker.polling, the MySQL worker's idle policy):
an idle claimer polls while a producer enqueues one task at random moments.

    .venv/bin/python bench/store_drain.py                      # both backends, 20,000 tasks
    .venv/bin/python bench/store_drain.py --tasks 5000 --batch 50 --backends mysql
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psycopg  # noqa: E402

from pgtask.models import EnqueueRequest, Outcome
from pgtask.store import open_store  # noqa: E402
from pgtask.store.migrate import migrate  # noqa: E402
from pgtask.store.mysql.store import connect as mysql_connect  # noqa: E402
from pgtask.worker.polling import AdaptivePolling  # noqa: E402

SERVERS = {"postgres": "postgresql://postgres@127.0.0.1:5432", "mysql": "mysql://root@127.0.0.1:3306"}


def create_database(backend: str) -> tuple[str, callable]:
    """A fresh migrated database; returns its DSN and a function that drops it."""
    name = "pgtask_bench_" + uuid.uuid4().hex[:12]
    base = SERVERS[backend]
    if backend == "postgres":
        def admin(statement: str) -> None:
            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute(statement)
    else:
        def admin(statement: str) -> None:
            with mysql_connect(f"{base}/mysql", autocommit=True) as conn, conn.cursor() as cur:
                cur.execute(statement)
    admin(f"CREATE DATABASE {name}")  # our own hex name
    dsn = f"{base}/{name}"
    migrate(dsn)
    return dsn, lambda: admin(f"DROP DATABASE {name}")


async def drain(dsn: str, tasks: int, batch: int) -> dict[str, float]:
    store = await open_store(dsn, max_size=2)
    try:
        started = time.perf_counter()
        for start in range(0, tasks, 1000):
            await store.enqueue_many([EnqueueRequest("bench.noop", {"n": n})
                                      for n in range(start, min(tasks, start + 1000))])
        enqueue_s = time.perf_counter() - started
        claim_s = finish_s = 0.0
        done = 0
        started, cpu_started = time.perf_counter(), time.process_time()
        while True:
            t0 = time.perf_counter()
            claimed = await store.claim(None, "bench", batch, None)
            t1 = time.perf_counter()
            if not claimed:
                break
            held = await store.finish([Outcome(t.id, t.lease_token, "succeeded") for t in claimed])
            claim_s += t1 - t0
            finish_s += time.perf_counter() - t1
            done += len(held.applied)
        drain_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started  # this process, every thread
    finally:
        await store.close()
    rounds = max(1, -(-done // batch))
    return {"enqueue/s": tasks / enqueue_s, "drain/s": done / drain_s,
            "claim ms": 1000 * claim_s / rounds, "finish ms": 1000 * finish_s / rounds,
            "python us/task": 1e6 * cpu_s / max(1, done), "drained": done}


async def pickup_latency(dsn: str, samples: int, max_delay: float) -> list[float]:
    """Seconds from enqueue to claim for an idle claimer polling adaptively."""
    store = await open_store(dsn, max_size=2)
    polling = AdaptivePolling(max_delay=max_delay)
    enqueued_at: dict[int, float] = {}
    latencies: list[float] = []

    async def producer() -> None:
        for _ in range(samples):
            await asyncio.sleep(random.uniform(0.5, 2.0))  # long enough for the claimer to idle
            [task_id] = await store.enqueue_many([EnqueueRequest("bench.noop")])
            enqueued_at[task_id] = time.perf_counter()

    async def claimer() -> None:
        while len(latencies) < samples:
            claimed = await store.claim(None, "bench", 10, None)
            now = time.perf_counter()
            for t in claimed:
                latencies.append(now - enqueued_at.get(t.id, now))
            await store.finish([Outcome(t.id, t.lease_token, "succeeded") for t in claimed])
            await asyncio.sleep(polling.next_delay(len(claimed), 10))

    try:
        await asyncio.gather(producer(), claimer())
    finally:
        await store.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--backends", nargs="+", default=["postgres", "mysql"], choices=SERVERS)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--max-delay", type=float, default=1.0)
    args = parser.parse_args()
    for backend in args.backends:
        dsn, drop = create_database(backend)
        try:
            result = asyncio.run(drain(dsn, args.tasks, args.batch))
            print(f"{backend:8} enqueue {result['enqueue/s']:8,.0f} tasks/s   "
                  f"drain {result['drain/s']:7,.0f} tasks/s   "
                  f"(claim {result['claim ms']:.1f} ms + finish {result['finish ms']:.1f} ms "
                  f"per {args.batch}; Python {result['python us/task']:.0f} us/task; "
                  f"drained {result['drained']})", flush=True)
            if args.latency_samples:
                lat = sorted(asyncio.run(pickup_latency(dsn, args.latency_samples, args.max_delay)))
                print(f"{backend:8} pickup latency, adaptive polling (max {args.max_delay:g}s), "
                      f"{len(lat)} samples: median {statistics.median(lat) * 1000:.0f} ms, "
                      f"max {lat[-1] * 1000:.0f} ms", flush=True)
        finally:
            drop()


if __name__ == "__main__":
    main()
