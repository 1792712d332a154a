"""A background service that dies of an error it does not handle stops the worker, loudly,
instead of leaving it up and wedged (a dead heartbeat would hold every claim)."""

from __future__ import annotations

import asyncio

import pytest

import pgtask
from pgtask import Worker, WorkerConfig


class Broken:
    async def run(self, stopping: asyncio.Event) -> None:
        await asyncio.sleep(0.05)
        raise KeyError("a bug in a service")


def test_a_service_that_dies_stops_the_worker_with_its_error(dsn, caplog):
    registry = pgtask.Registry()

    @registry.task("svc.noop")
    def noop(task):
        return None

    worker = Worker(dsn, registry, WorkerConfig(services=[Broken()], retention=None))

    async def main() -> None:
        await asyncio.wait_for(worker.run(), timeout=60)

    with pytest.raises(RuntimeError, match="worker service Broken failed") as failed:
        asyncio.run(main())
    assert isinstance(failed.value.__cause__, KeyError)
    assert "worker service Broken failed: KeyError" in caplog.text
