"""`pgtask demo`: a whole queue's life on the embedded Postgres, with no configuration.

Migrate; enqueue a few thousand tasks (most succeed, some fail once and retry, a few fail
for good); run a worker until the queue drains; then trickle tasks in one at a time to
measure pickup latency; print a summary.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pgtask import client
from pgtask.errors import Permanent
from pgtask.registry import Registry
from pgtask.store.postgres.demo import DemoDatabase, open_demo_database
from pgtask.worker.context import TaskContext
from pgtask.worker.runner import Worker, WorkerConfig

QUEUE = "demo"
registry = Registry()


@registry.task("demo.ok", queue=QUEUE, title="Succeeds")
async def ok(task: TaskContext) -> dict[str, Any]:
    await asyncio.sleep(random.random() / 1000)
    return {"n": task.payload["n"]}


@registry.task("demo.flaky", queue=QUEUE, title="Fails once, then succeeds")
def flaky(task: TaskContext) -> dict[str, Any]:
    if task.attempt == 1:
        raise RuntimeError("flaky: first attempt fails")
    return {"n": task.payload["n"], "attempt": task.attempt}


@registry.task("demo.broken", queue=QUEUE, title="Fails for good")
async def broken(task: TaskContext) -> None:
    raise Permanent("broken: this task can never succeed")


def _mix(total: int) -> list[tuple[str, dict[str, int]]]:
    kinds = ["demo.ok"] * 90 + ["demo.flaky"] * 8 + ["demo.broken"] * 2
    rng = random.Random(7)
    return [(rng.choice(kinds), {"n": n}) for n in range(total)]


def _enqueue(db: DemoDatabase, console: Console, total: int) -> None:
    tasks = _mix(total)
    with Progress(TextColumn("enqueue"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
        job = bar.add_task("enqueue", total=total)
        for start in range(0, total, 500):
            chunk = tasks[start:start + 500]
            client.enqueue_many(db.connection,
                                [client.make_request(t, p, queue=QUEUE) for t, p in chunk])
            bar.advance(job, len(chunk))


def _wait_drained(db: DemoDatabase, console: Console, after_id: int, total: int) -> None:
    with Progress(TextColumn("worker"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        job = bar.add_task("run", total=total)
        while (done := db.finished_count(QUEUE, after_id)) < total:
            bar.update(job, completed=done)
            time.sleep(0.1)  # progress display refresh, not synchronisation
        bar.update(job, completed=total)


def _trickle(db: DemoDatabase, count: int) -> int:
    """Enqueue tasks one at a time, 5 ms apart, to an idle listening worker."""
    first = db.last_task_id()
    for n in range(count):
        client.enqueue(db.connection, "demo.ok", {"n": n}, queue=QUEUE)
        time.sleep(0.005)
    return first


def run_demo(dsn: str, total: int = 3000, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    with open_demo_database(dsn) as db:
        first = db.setup_queue(QUEUE)
        _enqueue(db, console, total)
        last = db.last_task_id()
        worker = Worker(dsn, registry, WorkerConfig(queues=[QUEUE], concurrency=50,
                                                    retention=None))
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_until_complete, args=(worker.run(),),
                                  daemon=True)
        thread.start()
        try:
            _wait_drained(db, console, first, total)
            summary = dict(db.summary(QUEUE, first, last))
            trickle_from = _trickle(db, 200)
            _wait_quietly(db, trickle_from, 200)
            p50, p99 = db.pickup_ms(QUEUE, trickle_from)
        finally:
            loop.call_soon_threadsafe(worker.stop)
            thread.join(30)
    summary.update(pickup_p50_ms=p50, pickup_p99_ms=p99)
    _print_summary(console, summary)
    return summary


def _wait_quietly(db: DemoDatabase, after_id: int, total: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while db.finished_count(QUEUE, after_id) < total:
        if time.monotonic() > deadline:
            raise TimeoutError("the demo worker did not finish the latency tasks")
        time.sleep(0.05)


def _print_summary(console: Console, s: dict[str, Any]) -> None:
    table = Table(title="pgtask demo", show_header=False)
    rate = (s["succeeded"] + s["dead"]) / float(s["seconds"]) if s["seconds"] else 0
    for label, value in [
        ("succeeded", f"{s['succeeded']:,} (of which retried: {s['retried']:,})"),
        ("dead", f"{s['dead']:,}"),
        ("throughput", f"{rate:,.0f} tasks/s (one worker process, 50 slots)"),
        ("pickup latency", f"p50 {s['pickup_p50_ms']:.1f} ms, p99 {s['pickup_p99_ms']:.1f} ms "
                           "(200 tasks enqueued 5 ms apart)"),
    ]:
        table.add_row(label, value)
    console.print(table)
