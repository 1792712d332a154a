"""Pure backoff policies of the Python side (the task retry policy lives in SQL)."""

from __future__ import annotations

import random
from collections.abc import Callable


def reconnect_delay(attempt: int, base: float = 0.1, cap: float = 10.0,
                    rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before reconnect attempt `attempt` (0-based): exponential with
    "equal jitter" (half fixed, half random), so many workers that lost the same server do
    not come back in lockstep, yet none retries with a near-zero delay."""
    ceiling = min(cap, base * (2.0 ** min(attempt, 30)))
    return ceiling / 2 + rng() * ceiling / 2
