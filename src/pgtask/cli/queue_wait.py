"""`pgtask queue pause --wait`: after the pause, wait until the queue's running tasks are done.

A paused queue hands out no new tasks, so the running count only falls; the wait polls it
(a cheap count on the running-by-queue index) until it is zero or the timeout passes.
Polling, not NOTIFY: it works the same on MySQL, and an operator waits seconds, not ms.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pgtask.store.base import Operator

POLL_INTERVAL = 0.2  # seconds between two counts


@dataclass(frozen=True, slots=True)
class Drained:
    """How a queue's running tasks came to an end after its pause."""

    running_at_pause: int
    still_running: int  # 0: every one finished
    waited: float  # seconds

    def describe(self, name: str) -> str:
        if self.still_running == 0:
            return (f"queue {name} paused; {self.running_at_pause} task(s) were running, "
                    f"all done after {self.waited:.1f}s")
        return (f"queue {name} paused; {self.running_at_pause} task(s) were running, "
                f"{self.still_running} still running after {self.waited:.1f}s (timed out)")


def wait_until_drained(operator: Operator, name: str, timeout: float | None,
                       sleep: Callable[[float], None] = time.sleep,
                       clock: Callable[[], float] = time.monotonic) -> Drained:
    """Count the queue's running tasks until none is left or `timeout` seconds pass."""
    started = clock()
    first = running = operator.running_in_queue(name)
    while running > 0:
        waited = clock() - started
        if timeout is not None and waited >= timeout:
            break
        step = POLL_INTERVAL if timeout is None else min(POLL_INTERVAL, timeout - waited)
        sleep(max(step, 0.0))
        running = operator.running_in_queue(name)
    return Drained(first, running, clock() - started)
