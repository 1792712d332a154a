"""A target with a fixed capacity, for the throttling tests: it accepts at most `capacity`
requests in any one second and answers the rest 429 with Retry-After: 1, as a rate-limited
API does; `down()` makes it answer 503 to everything for a while (an outage). It keeps its
own log of what it accepted and refused -- the measure the tests judge by, not the
worker's idea of its rate.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from .target import Reply, Seen

ACCEPTED = Reply(200, '{"ok": true}')
LIMITED = Reply(429, "slow down", {"retry-after": "1", "content-type": "text/plain"})
OUTAGE = Reply(503, "down", {"content-type": "text/plain"})


@dataclass(frozen=True, slots=True)
class Answer:
    at: float       # time.monotonic() of arrival
    accepted: bool


class CapacityLimit:
    """The responder: a sliding one-second window of `capacity` accepted requests."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.log: list[Answer] = []
        self._window: deque[float] = deque()
        self._down = (float("inf"), float("-inf"))  # [from, until): refusing everything
        self._lock = threading.Lock()

    def down(self, now: float, seconds: float) -> None:
        with self._lock:
            self._down = (now, now + seconds)

    def __call__(self, seen: Seen) -> Reply:
        if self.answer(seen.at):
            return ACCEPTED
        return OUTAGE if self._is_down(seen.at) else LIMITED

    def answer(self, at: float) -> bool:
        """Whether a request arriving at `at` is accepted (logged either way)."""
        with self._lock:
            while self._window and self._window[0] <= at - 1.0:
                self._window.popleft()
            accepted = not self._is_down(at) and len(self._window) < self.capacity
            if accepted:
                self._window.append(at)
            self.log.append(Answer(at, accepted))
            return accepted

    def _is_down(self, at: float) -> bool:
        return self._down[0] <= at < self._down[1]

    def answers(self, start: float, end: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.log if start <= a.at < end]

    def used_and_refused(self, start: float, end: float) -> tuple[float, float]:
        """(share of the capacity used, share of requests refused) between start and end."""
        answers = self.answers(start, end)
        accepted = sum(a.accepted for a in answers)
        return (accepted / (self.capacity * (end - start)),
                (len(answers) - accepted) / max(1, len(answers)))

    def busiest_second(self, start: float, end: float) -> int:
        """The most requests that arrived in any one second between start and end."""
        times = [a.at for a in self.answers(start, end)]
        most, first = 0, 0
        for last, at in enumerate(times):
            while times[first] <= at - 1.0:
                first += 1
            most = max(most, last - first + 1)
        return most
