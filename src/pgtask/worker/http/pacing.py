"""Holding each dispatch until its slot at the queue's adaptive rate: the async half of
throttle.py (whose Pacer and AdaptiveRate are pure).

Waiters of one queue go one at a time and re-read the rate while they wait, so a decrease
slows the dispatches already waiting instead of letting slots booked at the old rate go out
(which kept a target overloaded for seconds after it pushed back).
"""

from __future__ import annotations

import asyncio
import math
import time

from pgtask.worker.http.throttle import AdaptiveRate, Pacer

RECHECK = 0.1  # seconds a waiting dispatch sleeps before re-reading the rate


class Pacing:
    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait  # hold a task this long for its slot, then hand it back
        self._pacers: dict[str, Pacer] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait_turn(self, queue: str, throttle: AdaptiveRate, workers: int) -> float | None:
        """Wait for this dispatch's slot at this process's share of the queue's rate (None:
        go now). When the slot is more than max_wait away, return how far instead of
        waiting: the caller hands its task back for that long."""
        pacer = self._pacers.setdefault(queue, Pacer())
        now = time.monotonic()
        share = _share(throttle.rate(now), workers)
        if share is None and now >= throttle.paused_until:
            throttle.started(now)
            return None
        expected = pacer.expected_wait(now, share or math.inf, throttle.paused_until)
        if expected > self.max_wait:
            return expected
        pacer.waiting += 1
        try:
            async with self._locks.setdefault(queue, asyncio.Lock()):
                held = False
                while True:
                    now = time.monotonic()
                    share = _share(throttle.rate(now), workers)
                    slot = pacer.slot(now, share or math.inf, throttle.paused_until)
                    if slot <= now:
                        break
                    held = True
                    await asyncio.sleep(min(slot - now, RECHECK))
                pacer.take(now)
                throttle.started(now, held=held)
        finally:
            pacer.waiting -= 1
        return None


def _share(rate: float | None, workers: int) -> float | None:
    """This process's share of a queue-wide rate."""
    return None if rate is None else rate / max(1, workers)
