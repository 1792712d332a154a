"""Adaptive throttling: send less when the target pushes back, creep back up when it copes.

AIMD, as TCP does it: on pushback (429, 503, or latency past a threshold) the rate is
multiplied by `decrease` -- at most once per `cooldown`, so a burst of 503s from requests
already in flight counts once -- and every second without pushback it grows by a fixed step
(a fraction of the rate the target last choked at). A queue starts unthrottled (rate None);
the first pushback sets the rate from the dispatch rate actually observed. Pure: callers
pass a monotonic `now` in seconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AimdSettings:
    decrease: float = 0.5          # multiply the rate by this on pushback
    increase_fraction: float = 0.05  # per second: this fraction of the rate at the last pushback
    min_increase: float = 0.5      # ... but at least this many tasks/s per second
    min_rate: float = 0.5          # never throttle below this (tasks/s)
    cooldown: float = 1.0          # seconds between two decreases
    latency_threshold: float | None = None  # seconds; None: only 429/503 count as pushback
    window: float = 2.0            # seconds of dispatches used to measure the current rate

    def __post_init__(self) -> None:
        if not 0 < self.decrease < 1:
            raise ValueError("AIMD decrease must be between 0 and 1 (exclusive)")
        if self.min_rate <= 0 or self.increase_fraction < 0 or self.min_increase <= 0:
            raise ValueError("AIMD rates and steps must be positive")


class AdaptiveRate:
    """The adaptive dispatch rate of one target (tasks/s; None means unthrottled)."""

    def __init__(self, settings: AimdSettings = AimdSettings()) -> None:
        self.settings = settings
        self.ceiling: float | None = None  # the queue's own rate_limit, if any
        self._rate: float | None = None
        self._peak = 0.0                   # the rate at the last pushback
        self._changed_at = 0.0             # when _rate was last set
        self._decreased_at = float("-inf")
        self._starts: deque[float] = deque()

    def rate(self, now: float) -> float | None:
        """The current rate, with the additive increase earned since the last change."""
        if self._rate is None:
            return None
        s = self.settings
        step = max(s.min_increase, s.increase_fraction * self._peak)
        rate = self._rate + step * max(0.0, now - self._changed_at)
        limit = self.ceiling if self.ceiling is not None else 2 * self._peak
        if rate >= limit:
            # Recovered: back to the ceiling (or, with no ceiling, well past the choke point).
            self._rate = None
            return None
        return rate

    def observed(self, now: float) -> float:
        """Dispatches per second over the last window."""
        horizon = now - self.settings.window
        while self._starts and self._starts[0] < horizon:
            self._starts.popleft()
        return len(self._starts) / self.settings.window

    def started(self, now: float) -> None:
        """A dispatch went out now (feeds the observed rate)."""
        self._starts.append(now)
        self.observed(now)

    def response(self, now: float, *, pushback: bool, latency: float | None = None,
                 workers: int = 1) -> bool:
        """Account for one answer; True when the rate just went down. Rates are for the
        whole queue: `workers` processes each sending what this one observes."""
        slow = (self.settings.latency_threshold is not None and latency is not None
                and latency > self.settings.latency_threshold)
        if not (pushback or slow) or now - self._decreased_at < self.settings.cooldown:
            return False
        current = self.rate(now)
        if current is None:  # unthrottled until now: start from what we actually sent
            current = self.observed(now) * max(1, workers) or self.settings.min_rate
            if self.ceiling is not None:
                current = min(current, self.ceiling)
        self._peak = current
        self.set(now, max(self.settings.min_rate, current * self.settings.decrease))
        self._decreased_at = now
        return True

    def set(self, now: float, rate: float | None) -> None:
        """Adopt `rate` (e.g. one another worker published)."""
        self._rate = rate
        self._changed_at = now
        if rate is not None and not self._peak:  # not ours: assume it came from a decrease
            self._peak = rate / self.settings.decrease


class Pacer:
    """Spaces dispatches 1/rate apart; tells each caller how long to wait for its slot."""

    def __init__(self) -> None:
        self._next = float("-inf")

    def reserve(self, now: float, rate: float | None, max_wait: float) -> float:
        """Seconds to wait for the next slot at `rate` (None: no limit, no wait). A wait
        longer than `max_wait` is not reserved: the caller gives its task back for that long
        instead of holding it."""
        if rate is None:
            return 0.0
        slot = max(now, self._next)
        if slot - now <= max_wait:
            self._next = slot + 1.0 / rate
        return slot - now
