"""procrastinate for the benchmark: `procrastinate --app=peer_procrastinate.app worker`.

The worker reads the DSN from $BENCH_DSN; enqueuers use `with app_for(dsn): ...` instead.
"""

from __future__ import annotations

import os

import procrastinate

from probe import record_start

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(conninfo=os.environ.get("BENCH_DSN", "")))


@app.task(name="noop")
async def noop(**kwargs) -> None:
    return None


@app.task(name="latency")
async def latency(k: int) -> None:
    record_start(k)


def app_for(dsn: str):
    """The app, connected to `dsn` for the duration of the with block."""
    return app.replace_connector(procrastinate.PsycopgConnector(conninfo=dsn))
