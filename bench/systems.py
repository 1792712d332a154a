"""The systems under test: how to start their workers, fill their queues and see them empty.

Each System knows its worker command line for a configuration, how many connections a
ready worker holds, how to bulk-enqueue n tasks through its own API, and the query that
says whether anything is still unfinished.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

import measure
from measure import Lap

BIN = os.path.dirname(sys.executable)


@dataclass(frozen=True)
class Config:
    """One worker configuration of one system, as a row of the drain table."""

    system: str
    label: str  # e.g. "default", "-c 100"
    processes: int = 1
    args: tuple[str, ...] = ()
    max_tasks: int | None = None  # a cap on the drain size, for the slow ones


# -- bulk enqueue through each system's own API ----------------------------------------
# `lap` (measure.Lap) times the statement(s) only, not connecting and disconnecting.


def enqueue_bare(dsn: str, n: int, lap: Lap | None = None) -> None:
    lap = lap or Lap()
    with psycopg.connect(dsn) as conn:
        lap.start()
        conn.execute("insert into bench_jobs (payload) select jsonb_build_object('i', i)"
                     " from generate_series(1, %s) i", (n,))
        conn.execute("select pg_notify('bench_jobs', '')")
        conn.commit()
        lap.done()


def enqueue_pgtask(dsn: str, n: int, lap: Lap | None = None) -> None:
    import pgtask

    lap = lap or Lap()
    items = [("bench.noop", {"i": i}) for i in range(n)]
    with psycopg.connect(dsn) as conn:
        lap.start()
        pgtask.enqueue_many(conn, items)
        conn.commit()
        lap.done()


def enqueue_pgqueuer(dsn: str, n: int, lap: Lap | None = None) -> None:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries

    lap = lap or Lap()
    payloads = [json.dumps({"i": i}).encode() for i in range(n)]

    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            queries = Queries(AsyncpgDriver(conn))
            lap.start()
            await queries.enqueue(["noop"] * n, payloads, [0] * n)  # autocommitted
            lap.done()
        finally:
            await conn.close()

    asyncio.run(go())


def enqueue_procrastinate(dsn: str, n: int, lap: Lap | None = None) -> None:
    from peer_procrastinate import app_for, noop

    lap = lap or Lap()
    kwargs = [{"i": i} for i in range(n)]

    async def go() -> None:
        with app_for(dsn) as app:
            async with app.open_async():
                lap.start()
                await noop.batch_defer_async(*kwargs)  # committed when it returns
                lap.done()

    asyncio.run(go())


@dataclass(frozen=True)
class System:
    name: str
    unfinished: str  # SQL: true while a task is not finished
    finished: str  # SQL: how many tasks finished (to check the run)
    enqueue: Callable[..., None]  # (dsn, n, lap=None): n tasks through its own bulk API

    def command(self, cfg: Config, dsn: str, latency: bool = False) -> list[list[str]]:
        """The command lines to start (one per process group) for this configuration."""
        py = os.path.join(BIN, "python")
        if self.name == "bare SQL":
            return [[py, "bare.py", dsn] + (["--latency"] if latency else [])] * cfg.processes
        if self.name == "pgtask":
            return [[os.path.join(BIN, "pgtask"), "worker", "--dsn", dsn, "-H", "handlers",
                     "--processes", str(cfg.processes), "--log-level", "warning", *cfg.args]]
        if self.name == "pgqueuer":
            return [[py, "peer_pgqueuer.py", *cfg.args]] * cfg.processes
        if self.name == "procrastinate":
            return [[os.path.join(BIN, "procrastinate"), "--app=peer_procrastinate.app",
                     "worker", *cfg.args]] * cfg.processes
        raise ValueError(self.name)

    def connections(self, cfg: Config) -> int:
        """Connections a ready worker configuration holds (pgtask: pool + LISTEN)."""
        return cfg.processes * (2 if self.name == "pgtask" else 1)


SYSTEMS = {s.name: s for s in [
    System("bare SQL", "select exists (select 1 from bench_jobs)",
           "select 0", enqueue_bare),
    System("pgtask", "select exists (select 1 from pgtask.tasks)",
           "select count(*) from pgtask.task_history where state = 'succeeded'", enqueue_pgtask),
    System("pgqueuer", "select exists (select 1 from pgqueuer)",
           "select count(*) from pgqueuer_log where status = 'successful'",
           enqueue_pgqueuer),
    System("procrastinate",
           "select exists (select 1 from procrastinate_jobs where status in ('todo', 'doing'))",
           "select count(*) from procrastinate_jobs where status = 'succeeded'",
           enqueue_procrastinate),
]}

DRAIN_CONFIGS = [
    Config("bare SQL", "claim 100 + delete 100", 1),
    Config("bare SQL", "claim 100 + delete 100", 2),
    Config("pgtask", "default (-c 100)", 1),
    Config("pgtask", "default (-c 100)", 2),
    Config("pgtask", "-c 10", 1, ("--concurrency", "10")),
    Config("pgtask", "-c 200", 1, ("--concurrency", "200")),
    Config("pgtask", "-c 200", 2, ("--concurrency", "200")),
    Config("pgqueuer", "default (batch 10)", 1),
    Config("pgqueuer", "batch 100", 1, ("100",)),
    Config("pgqueuer", "batch 100", 2, ("100",)),
    # procrastinate drains at a few hundred tasks/s: 20,000 x 3 repetitions x 2 would take
    # most of the time budget alone, so it drains 5,000.
    Config("procrastinate", "default (concurrency 1)", 1, max_tasks=5000),
    Config("procrastinate", "concurrency 20", 1, ("--concurrency", "20"), max_tasks=5000),
]

LATENCY_CONFIGS = [
    Config("bare SQL", "LISTEN + claim 100", 1),
    Config("pgtask", "default", 1),
    Config("pgqueuer", "default", 1),
    Config("procrastinate", "default", 1),
]


@contextmanager
def ready_workers(server: measure.Server, template: str, cfg: Config, prefix: str,
                  latency: bool = False) -> Iterator[tuple[str, psycopg.Connection, list]]:
    """A fresh database with cfg's workers started and settled: (dsn, monitor, processes).
    Stops the workers and drops the database afterwards."""
    system = SYSTEMS[cfg.system]
    name = server.create(prefix, template)
    dsn = server.dsn(name)
    procs: list = []
    try:
        with psycopg.connect(dsn, autocommit=True) as monitor:
            log = f"{prefix}-{cfg.system}-{cfg.processes}p".replace(" ", "_")
            procs = [measure.start(argv, {"BENCH_DSN": dsn}, log)
                     for argv in system.command(cfg, dsn, latency)]
            measure.wait_backends(monitor, system.connections(cfg), procs)
            yield dsn, monitor, procs
    finally:
        measure.stop(procs)
        server.drop(name)
