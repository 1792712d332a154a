"""Adaptive polling for databases without LISTEN/NOTIFY (MySQL, MariaDB).

A worker asks `next_delay(claimed, asked)` after each claim and sleeps that long before the
next one (waking early when a slot frees up, as it would anyway):

  * a full batch came back  -> 0: more work is likely waiting, claim again at once;
  * some came back          -> `min_delay`: the queue just drained, look again very soon;
  * nothing came back       -> `min_delay * factor ** idle_claims`, capped at `max_delay`.

Each delay is shortened by a random fraction of up to `jitter`, so workers that went idle
together drift apart instead of polling in lockstep, and a delay never exceeds `max_delay`.

Latency this gives: a task enqueued into a busy system is picked up by the next claim
(milliseconds); into an idle one, within `max_delay` (1 s by default) of the moment the worker
polls next: about max_delay * (1 - jitter/2) on average for one worker, and about
max_delay / (n + 1) for n idle workers polling independently. An idle worker costs the
database about one claim per `max_delay`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class AdaptivePolling:
    """How long to wait before the next claim, from what the last claims returned."""

    min_delay: float = 0.01
    max_delay: float = 1.0
    factor: float = 2.0
    jitter: float = 0.2
    rng: Callable[[], float] = field(default=random.random, repr=False)
    idle_claims: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.min_delay <= self.max_delay:
            raise ValueError("polling needs 0 < min_delay <= max_delay")
        if self.factor < 1:
            raise ValueError("polling backoff factor must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("polling jitter must be in [0, 1)")

    def next_delay(self, claimed: int, asked: int) -> float:
        """Seconds to wait before the next claim, after one that returned `claimed` of `asked`."""
        if claimed > 0:
            self.idle_claims = 0
            return 0.0 if claimed >= asked else self._spread(self.min_delay)
        self.idle_claims += 1
        # Bounded exponent: past the cap more doublings change nothing (and could overflow).
        exponent = min(self.idle_claims, 64)
        return self._spread(min(self.max_delay, self.min_delay * self.factor ** exponent))

    def reset(self) -> None:
        """Something suggests work is coming (e.g. this process enqueued): poll fast again."""
        self.idle_claims = 0

    def _spread(self, delay: float) -> float:
        return delay * (1 - self.jitter * self.rng())
