"""The last five minutes of finished work, kept across refreshes so each is cheap.

Each refresh reads only the history rows that finished since the previous one (the
"events" rows of Operator.top_rows) and adds them here as per-second buckets: completions by
finish time, failed attempts by the time in their error entry, pickup latencies by claim
time. Rates and percentiles are then sums over buckets. A one-shot frame (`top --once`) is
simply a window fed once with the whole five minutes.

History is read up to `until` = the database clock minus one second, so that a finish whose
transaction commits a moment after a refresh is still read by the next one.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

SPAN = 300  # seconds of history kept: the longest rate window
WINDOWS = (10, 60, SPAN)  # the rate windows, in seconds
SPARK_SECONDS = 60  # the per-second series behind the throughput sparkline
PICKUP_SPAN = 60  # pickup latency percentiles cover claims in the last minute
MAX_SAMPLES = 50_000  # per queue; beyond that the oldest samples go first


def percentiles(values: Sequence[float], points: Sequence[float]) -> tuple[float, ...] | None:
    """Linear-interpolation percentiles, like Postgres's percentile_cont; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    result = []
    for p in points:
        rank = p * (len(ordered) - 1)
        low, high = math.floor(rank), math.ceil(rank)
        result.append(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))
    return tuple(result)


class Window:
    def __init__(self) -> None:
        self.until: datetime | None = None  # history has been read up to here
        self._done: dict[str, Counter[int]] = defaultdict(Counter)
        self._failed: dict[str, Counter[int]] = defaultdict(Counter)
        self._pickups: dict[str, deque[tuple[float, float]]] = defaultdict(
            lambda: deque(maxlen=MAX_SAMPLES))
        self._running: dict[str, list[float]] = {}

    def add(self, events: Iterable[dict[str, Any]], until: datetime) -> None:
        """Take one refresh's rows (kind, queue, at, n, wait) read up to `until`."""
        self._running = defaultdict(list)
        for e in events:
            kind, queue = e["kind"], e["queue"]
            if kind == "done":
                self._done[queue][int(e["at"])] += e["n"]
            elif kind == "failed":
                self._failed[queue][int(e["at"])] += e["n"]
            elif kind == "pickup":
                self._pickups[queue].append((e["at"], e["wait"]))
            elif kind == "running":  # tasks still running: fresh every refresh, not kept
                self._running[queue].append(e["wait"])
        self.until = until
        self._forget_before(until.timestamp())

    def _forget_before(self, end: float) -> None:
        oldest = math.floor(end) - SPAN
        for buckets in (*self._done.values(), *self._failed.values()):
            for second in [s for s in buckets if s <= oldest]:
                del buckets[second]
        for samples in self._pickups.values():
            while samples and samples[0][0] <= end - PICKUP_SPAN:
                samples.popleft()

    def _sum(self, buckets: Counter[int], seconds: int) -> int:
        last = math.floor(self.until.timestamp()) if self.until else 0
        return sum(n for s, n in buckets.items() if s > last - seconds)

    def completed(self, queue: str) -> tuple[int, ...]:
        """Completions in each of WINDOWS."""
        return tuple(self._sum(self._done.get(queue, Counter()), w) for w in WINDOWS)

    def failed(self, queue: str) -> tuple[int, ...]:
        """Failed attempts of tasks that finished since, in each of WINDOWS."""
        return tuple(self._sum(self._failed.get(queue, Counter()), w) for w in WINDOWS)

    def pickup(self, queue: str) -> tuple[float, float, float] | None:
        """p50, p95 and p99 of the pickup waits seen (None: none seen)."""
        waits = [w for _, w in self._pickups.get(queue, ())] + self._running.get(queue, [])
        found = percentiles(waits, (0.5, 0.95, 0.99))
        return None if found is None else (found[0], found[1], found[2])

    def per_second(self, queue: str) -> tuple[int, ...]:
        """Completions in each of the last SPARK_SECONDS seconds, oldest first."""
        b = self._done.get(queue, Counter())
        last = math.floor(self.until.timestamp()) if self.until else 0
        return tuple(b.get(last - ago, 0) for ago in range(SPARK_SECONDS - 1, -1, -1))
