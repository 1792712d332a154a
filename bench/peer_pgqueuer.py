"""pgqueuer for the benchmark: `python peer_pgqueuer.py [BATCH]` (DSN in $BENCH_DSN)."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

import asyncpg
from pgqueuer import AsyncpgDriver, PgQueuer
from pgqueuer.models import Job

from probe import record_start


@asynccontextmanager
async def main():
    conn = await asyncpg.connect(os.environ["BENCH_DSN"])
    pgq = PgQueuer(AsyncpgDriver(conn))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        return None

    @pgq.entrypoint("latency")
    async def latency(job: Job) -> None:
        record_start(int(job.payload))

    yield pgq
    await conn.close()


if __name__ == "__main__":
    # What `pgq run peer_pgqueuer:main --batch-size N` does (uvloop included); the CLI
    # itself fails to parse --log-level with typer 0.29 (pgqueuer 1.6.0).
    import sys

    import pgqueuer
    import uvloop

    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    uvloop.run(pgqueuer.run("peer_pgqueuer:main", batch_size=batch))
