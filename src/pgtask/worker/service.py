"""The one shape of a worker's background loop.

The runner starts every service as an asyncio task when the worker has registered, sets
`stopping` when it is asked to stop, and cancels whatever still runs once the last task has
drained. A service that must outlive the drain (the outcome buffer, heartbeats: draining
tasks still finish and still hold leases) ignores `stopping` and runs until cancelled; one
that only helps claiming (the listener, the scheduler) returns when `stopping` is set.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Service(Protocol):
    async def run(self, stopping: asyncio.Event) -> None: ...


async def wait_or_stop(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stopping` is set meanwhile."""
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        pass
