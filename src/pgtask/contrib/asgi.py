"""A pgtask worker inside an ASGI app (Starlette, FastAPI): started with the app, drained
with it.

    app = FastAPI(lifespan=worker_lifespan(DSN, handlers=["app.tasks"], concurrency=10))

On start-up the worker's checks run before the app takes requests: a wrong DSN, an
unmigrated database or no handlers fail the app's start (uvicorn exits non-zero), not a
background task nobody watches. It then runs as a task on the app's event loop, and is
`app.state.pgtask_worker`. On shutdown (uvicorn turns SIGTERM into it: it owns the
signals) the worker's own graceful stop runs: no more claims, running tasks get
`shutdown_timeout` seconds, the rest go back to their queues.

Sync handlers run in the worker's threads; one that ignores `ctx.cancelled` past the
shutdown timeout keeps the process alive until it returns (its task was released).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

from pgtask.config import resolve_dsn
from pgtask.registry import Registry, default_registry, load_handlers
from pgtask.worker.runner import Worker, WorkerConfig

log = logging.getLogger("pgtask.worker")

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]
STATE_NAME = "pgtask_worker"


def _registry(handlers: Registry | Sequence[str] | None) -> Registry:
    if handlers is None:
        return default_registry  # the tasks the app declared with @pgtask.task
    if isinstance(handlers, Registry):
        return handlers
    return load_handlers(list(handlers), default_registry)


@asynccontextmanager
async def running_worker(dsn: str | None = None,
                         handlers: Registry | Sequence[str] | None = None,
                         **options: Any) -> AsyncIterator[Worker]:
    """Run a worker on this event loop for the `async with` block; yield it once started.

    dsn: as `pgtask worker --dsn` (None: $PGTASK_DSN, else the embedded Postgres).
    handlers: a Registry, handler module names, or None for the tasks declared with
    @pgtask.task. options: WorkerConfig's (concurrency, queues, shutdown_timeout, ...) and
    Worker's (targets, metrics).
    Start-up errors (ConfigError, SchemaError, ValueError) are raised here.
    """
    extra = {key: options.pop(key) for key in ("targets", "metrics") if key in options}
    worker = Worker(resolve_dsn(dsn), _registry(handlers), WorkerConfig(**options),
                        **extra)
    job = asyncio.create_task(worker.run(), name="pgtask-worker")
    started = asyncio.create_task(worker.started.wait())
    try:
        await asyncio.wait([job, started], return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # the app's start-up was cancelled: take the worker down too
        worker.stop()
        await asyncio.wait([job])
        raise
    finally:
        started.cancel()
    if job.done():
        job.result()  # the reason it could not start, raised into the app's start-up
        raise RuntimeError("the pgtask worker stopped while starting")
    job.add_done_callback(_died)
    try:
        yield worker
    finally:
        job.remove_done_callback(_died)
        worker.stop()
        await job  # the graceful stop: drain, release, deregister (or a failure, again)


def _died(job: asyncio.Task[None]) -> None:
    """The worker ended while the app still runs: say so loudly (a service failed)."""
    if not job.cancelled() and job.exception() is not None:
        log.error("the pgtask worker stopped: %s; this app runs no tasks until it restarts",
                  job.exception(), extra={"event": "worker.died"})


def worker_lifespan(dsn: str | None = None, handlers: Registry | Sequence[str] | None = None,
                    *, lifespan: Lifespan | None = None, **options: Any) -> Lifespan:
    """An ASGI lifespan (`Starlette(lifespan=...)`, `FastAPI(lifespan=...)`) that runs a
    worker (running_worker's arguments) around the app, and the app's own `lifespan` (if
    given) inside it: that one starts after the worker and stops before it."""

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[Any]:
        async with running_worker(dsn, handlers, **options) as worker:
            setattr(app.state, STATE_NAME, worker)
            inner = lifespan(app) if lifespan is not None else nullcontext()
            async with inner as state:
                yield state

    return run


__all__ = ["running_worker", "worker_lifespan"]
