"""Wait for something observable to happen, with a deadline; never a bare sleep.

Every deadline is stretched by PGTASK_TEST_WAIT_SCALE (default 3): a wait returns as soon as
its event happens, so a generous deadline costs a passing test nothing, and a busy machine
(CI, a laptop compiling) must not turn a slow event into a failure. Tests that prove
promptness keep their margin: e.g. a 10 s "prompt pickup" is 30 s against a 60 s poll.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
SCALE = float(os.environ.get("PGTASK_TEST_WAIT_SCALE", "3"))


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
               message: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; return that, or fail at `timeout`
    (times SCALE)."""
    timeout *= SCALE
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


async def await_until(predicate: Callable[[], Awaitable[T]], timeout: float = 10.0,
                      interval: float = 0.02, message: str = "condition") -> T:
    timeout *= SCALE
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)
