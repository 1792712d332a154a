"""worker.service.unless_stopped: a database call the worker's stop abandons. Before (as
committed in f61d3fe): when the caller itself was cancelled, `work` ran on, orphaned."""

from __future__ import annotations

import asyncio

import pytest

from pgtask.worker.service import unless_stopped


async def forever(started: asyncio.Event, cancelled: asyncio.Event) -> None:
    started.set()
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        cancelled.set()
        raise


def test_result_error_and_stop():
    async def main() -> None:
        stopping = asyncio.Event()

        async def answer() -> int:
            return 7

        async def fail() -> None:
            raise LookupError("db says no")

        assert await unless_stopped(stopping, answer()) == 7
        with pytest.raises(LookupError, match="db says no"):
            await unless_stopped(stopping, fail())
        started, cancelled = asyncio.Event(), asyncio.Event()
        waiting = asyncio.ensure_future(unless_stopped(stopping, forever(started, cancelled)))
        await asyncio.wait_for(started.wait(), 10)
        stopping.set()
        assert await asyncio.wait_for(waiting, 10) is None
        assert cancelled.is_set()

    asyncio.run(main())


def test_a_cancelled_caller_takes_its_work_with_it():
    async def main() -> None:
        started, cancelled = asyncio.Event(), asyncio.Event()
        caller = asyncio.ensure_future(unless_stopped(asyncio.Event(),
                                                      forever(started, cancelled)))
        await asyncio.wait_for(started.wait(), 10)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await asyncio.wait_for(cancelled.wait(), 10)  # timed out here before

    asyncio.run(main())
