"""pgtask.contrib.asgi in-process: the app's lifespan runs inside the worker's, the worker
is app.state.pgtask_worker, and start-up errors are raised to the caller.

Before: ModuleNotFoundError (pgtask.contrib.asgi is new)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest
from starlette.applications import Starlette

import pgtask
from pgtask.contrib.asgi import running_worker, worker_lifespan


def _registry() -> pgtask.Registry:
    registry = pgtask.Registry()

    @registry.task("asgi.echo")
    def echo(task: pgtask.TaskContext) -> dict:
        return task.payload

    return registry


def test_the_apps_own_lifespan_runs_inside_the_workers(dsn):
    seen: list[str] = []

    @asynccontextmanager
    async def own(app: Starlette):
        seen.append(f"own start, worker {app.state.pgtask_worker.id.split(':')[1]}")
        yield {"answer": 42}
        seen.append(f"own stop, worker in flight {app.state.pgtask_worker.in_flight}")

    app = Starlette(lifespan=worker_lifespan(dsn, handlers=_registry(), lifespan=own,
                                             poll_interval=0.05))

    async def main() -> None:
        async with app.router.lifespan_context(app) as state:
            assert state == {"answer": 42}  # what the app's lifespan yields passes through
            assert isinstance(app.state.pgtask_worker, pgtask.Worker)
            assert app.state.pgtask_worker.started.is_set()  # Worker's public start event

    asyncio.run(main())
    assert seen[0].startswith("own start, worker ") and seen[1] == "own stop, worker in flight 0"


def test_start_up_errors_reach_the_caller(empty_dsn, dsn):
    async def enter(url: str, registry: pgtask.Registry) -> None:
        async with running_worker(url, registry):
            raise AssertionError("the worker should not have started")

    with pytest.raises(pgtask.SchemaError, match="pgtask migrate"):
        asyncio.run(enter(empty_dsn, _registry()))
    with pytest.raises(ValueError, match="no task handlers"):
        asyncio.run(enter(dsn, pgtask.Registry()))
