"""The one shape of a worker's background loop.

The runner starts every service as an asyncio task when the worker has registered, sets
`stopping` when it is asked to stop, and cancels whatever still runs once the last task has
drained. A service that must outlive the drain (the outcome buffer, heartbeats: draining
tasks still finish and still hold leases) ignores `stopping` and runs until cancelled; one
that only helps claiming (the listener, the scheduler) returns when `stopping` is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

log = logging.getLogger("pgtask.worker")
T = TypeVar("T")


class Service(Protocol):
    async def run(self, stopping: asyncio.Event) -> None: ...


async def wait_or_stop(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stopping` is set meanwhile."""
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        pass


async def wait_for_either(first: asyncio.Event, second: asyncio.Event) -> None:
    """Return once either event is set."""
    if first.is_set() or second.is_set():
        return
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def unless_stopped(stopping: asyncio.Event, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None if `stopping` is set first: `work` is then cancelled
    (cancel_all: a driver stuck on a silent server does not hold the stop back)."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # we were cancelled: asyncio.wait leaves `work` running, orphaned
        task.cancel()
        raise
    finally:
        stop.cancel()
    if task.done():
        return task.result()
    await cancel_all([task])
    return None


async def cancel_all(tasks: Sequence[asyncio.Future[Any]], grace: float = 1.0) -> None:
    """Cancel `tasks` and wait for them; cancel again those still running after `grace`
    seconds (a database driver that answers a cancel by waiting on a silent server gives up
    at the second one), so that stopping is bounded whatever the network does."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=grace)


async def within(seconds: float, work: Awaitable[T]) -> T:
    """`work`'s result, or TimeoutError after `seconds` (it is then cancelled: cancel_all)."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait([task], timeout=max(0.0, seconds))
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        await cancel_all([task])
        raise TimeoutError(f"gave up after {seconds:.1f}s")
    return task.result()


class Background:
    """The worker's services as asyncio tasks, started and stopped together. One that dies
    of an error it does not handle would leave the worker up but wedged (no heartbeat, so
    no claims): `failed` is called instead, once, and `broken` says which and why."""

    def __init__(self, failed: Callable[[], None]) -> None:
        self._failed = failed
        self._tasks: list[asyncio.Task[None]] = []
        self.broken: tuple[str, BaseException] | None = None

    def start(self, services: Sequence[Service], stopping: asyncio.Event) -> None:
        for service in services:
            task = asyncio.create_task(service.run(stopping), name=type(service).__name__)
            task.add_done_callback(self._ended)
            self._tasks.append(task)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self.broken is not None:
            return
        error = task.exception()
        if error is None:
            return
        log.error("worker service %s failed: %s: %s; stopping the worker", task.get_name(),
                  type(error).__name__, error, exc_info=error,
                  extra={"event": "worker.service_failed"})
        self.broken = (task.get_name(), error)
        self._failed()

    async def stop(self) -> None:
        await cancel_all(self._tasks)
