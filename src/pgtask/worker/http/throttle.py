"""Adaptive throttling: send what the target can take, no more, and never burst on recovery.

An AIMD controller (as TCP's), with three refinements that make it settle at a target's
capacity instead of swinging between a trickle and a flood:

* Decrease to what the target accepted. On pushback (429, 503, or latency past a
  threshold) the rate drops to `backoff` times the target's measured capacity -- the rate
  times the share of answers it accepted over the last window -- but at most by `decrease`.
* Count a burst of pushback once. Answers to requests sent before the last decrease say
  nothing about the new rate: they are ignored, and decreases are `cooldown` apart.
* Earn increases only while the rate binds (dispatches waited for their slot), so an idle
  queue banks no credit to burst with later. Recovery doubles per second up to the last
  good rate (the capacity measured at the last pushback), then probes above it one small
  step per second, growing while the target copes. The throttle lifts only at the
  queue's own rate_limit (claim_task enforces that); without one it never snaps back to
  unthrottled -- that is the burst -- it keeps growing, as fast as the target allows.

A queue starts unthrottled (rate None); the first pushback sets the rate from the dispatch
rate actually observed. Rates are queue-wide; each of `workers` processes sends its share.
A Retry-After longer than `pause_after` seconds also pauses the queue that long: a target
asking for a break, not per-request limiting (which says a second or two, honoured by the
refused task's own retry). Pure: callers pass a monotonic `now` in seconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AimdSettings:
    decrease: float = 0.5          # on pushback, multiply the rate by at least this ...
    backoff: float = 0.9           # ... and at most this (always a real decrease)
    increase_fraction: float = 0.02  # per second above the last good rate: this fraction of it
    min_increase: float = 0.1      # ... but at least this many tasks/s per second
    recovery: float = 2.0          # below the last good rate: multiply by this per second
    min_rate: float = 0.5          # never throttle below this (tasks/s)
    cooldown: float = 1.0          # seconds between two decreases
    latency_threshold: float | None = None  # seconds; None: only 429/503 count as pushback
    window: float = 2.0            # seconds of dispatches used to measure the current rate
    pause_after: float = 5.0       # a longer Retry-After pauses the whole queue
    max_pause: float = 30.0        # ... for at most this long

    def __post_init__(self) -> None:
        if not 0 < self.decrease <= self.backoff < 1:
            raise ValueError("AIMD decrease and backoff must satisfy 0 < decrease <= backoff < 1")
        if self.min_rate <= 0 or self.increase_fraction < 0 or self.min_increase <= 0:
            raise ValueError("AIMD rates and steps must be positive")
        if self.recovery < 1 or self.window <= 0:
            raise ValueError("AIMD recovery must be at least 1 and the window positive")


class AdaptiveRate:
    """The adaptive dispatch rate of one target (tasks/s, queue-wide; None: unthrottled)."""

    def __init__(self, settings: AimdSettings = AimdSettings()) -> None:
        self.settings = settings
        self.ceiling: float | None = None   # the queue's own rate_limit, if any
        self.good: float | None = None      # the last good rate: capacity at the last pushback
        self.paused_until = float("-inf")   # a long Retry-After holds every dispatch until then
        self._rate: float | None = None
        self._advanced_at = 0.0             # when _rate last earned its increase
        self._held_at = float("-inf")       # when a dispatch last waited for its slot
        self._decreased_at = float("-inf")
        self._starts: deque[float] = deque()
        self._accepted: deque[float] = deque()
        self._pushed_back: deque[float] = deque()
        self._first: float | None = None    # the first dispatch (the windows start there)
        self._probing = 0.0                 # binding seconds above the last good rate

    def rate(self, now: float) -> float | None:
        """The current rate, with the increase earned (while binding) since last asked."""
        if self._rate is None:
            return None
        elapsed, self._advanced_at = max(0.0, now - self._advanced_at), now
        if now - self._held_at > 1.0 + elapsed:  # not binding: no credit for idle time
            return self._rate
        self._rate = self._grown(self._rate, elapsed)
        if self.ceiling is not None and self._rate >= self.ceiling:
            self._rate = None  # recovered up to the queue's rate_limit: claim_task's from here
        return self._rate

    def _grown(self, rate: float, elapsed: float) -> float:
        s, good = self.settings, self.good or rate
        if rate < good:  # recovering: quickly back to the last good rate, never past it
            return min(good, rate * float(s.recovery ** elapsed))
        # Probing: gently near the last good rate, faster the longer it holds (as CUBIC),
        # so an underestimate is outgrown in seconds and the true capacity is met softly.
        self._probing += elapsed
        step = max(s.min_increase, s.increase_fraction * good) * (1.0 + self._probing)
        return rate + step * elapsed

    def observed(self, now: float) -> float:
        """This process's dispatches per second over the last window."""
        return _per_second(self._starts, now, self._span(now))

    def accepted_share(self, now: float) -> float:
        """The fraction of this process's answers over the last window that were accepted
        (no pushback). A ratio, not a count, so it holds for the whole queue even when
        the workers' shares of it differ."""
        span = self._span(now)
        accepted = _per_second(self._accepted, now, span)
        answers = accepted + _per_second(self._pushed_back, now, span)
        return accepted / answers if answers else 0.0

    def _span(self, now: float) -> float:
        """The window, or less while this process has not been sending that long."""
        if self._first is None:
            self._first = now
        return min(self.settings.window, max(1.0, now - self._first))

    def started(self, now: float, *, held: bool = False) -> None:
        """A dispatch went out now; `held`: it had waited for its slot (the rate binds)."""
        self.rate(now)  # bank the increase earned up to now before the binding state changes
        self._span(now)
        self._starts.append(now)
        if held:
            self._held_at = now
        self.observed(now)

    def response(self, now: float, *, pushback: bool, latency: float | None = None,
                 sent_at: float | None = None, workers: int = 1,
                 retry_after: float | None = None) -> bool:
        """Account for one answer to a dispatch sent at `sent_at`; True when the rate just
        went down. Rates are for the whole queue: `workers` processes each sending what
        this one observes."""
        s = self.settings
        slow = (s.latency_threshold is not None and latency is not None
                and latency > s.latency_threshold)
        if not (pushback or slow):
            self._accepted.append(now)
            return False
        self._pushed_back.append(now)
        stale = sent_at is not None and sent_at < self._decreased_at
        if stale or now - self._decreased_at < s.cooldown:
            return False
        workers = max(1, workers)
        current = self.rate(now)
        if current is None:  # unthrottled until now: start from what we actually sent
            current = self.observed(now) * workers or s.min_rate
            if self.ceiling is not None:
                current = min(current, self.ceiling)
        capacity = current * self.accepted_share(now)  # what the target took of it
        lowest = current * s.decrease
        rate = max(s.min_rate, lowest, s.backoff * min(current, capacity))
        if self.good is None or capacity >= self.good * s.decrease:
            # The target took this much: that is its capacity. (A sharp fall is an outage
            # starting, which says nothing about capacity: the last good rate stays.)
            self.good = max(rate, min(capacity, current))
        self._decrease(now, rate)
        if retry_after is not None and retry_after > s.pause_after:
            self.paused_until = max(self.paused_until, now + min(retry_after, s.max_pause))
        return True

    def _decrease(self, now: float, rate: float) -> None:
        self._rate, self._probing = rate, 0.0
        self._advanced_at = self._decreased_at = now

    def set(self, now: float, rate: float | None) -> None:
        """Adopt `rate`, one another worker published. A markedly lower one is that
        worker's decrease: answers to what this one sent before it are stale too."""
        current, self._advanced_at = self._rate, now
        if rate is not None and (current is None or rate <= current * self.settings.backoff):
            self._decreased_at = now
        if rate is not None and self.good is None:
            self.good = rate
        self._rate = rate


class Pacer:
    """Spaces dispatches 1/rate apart, one slot after another; idle time is not banked, so
    a queue that was quiet does not burst when work arrives."""

    def __init__(self) -> None:
        self._last = float("-inf")
        self.waiting = 0  # dispatches holding their task until their slot

    def slot(self, now: float, rate: float, not_before: float = float("-inf")) -> float:
        """When the next dispatch may go at `rate` (not before `not_before`, a pause)."""
        return max(now, not_before, self._last + 1.0 / rate)

    def expected_wait(self, now: float, rate: float, not_before: float = float("-inf")) -> float:
        """How long a dispatch arriving now would wait: its slot behind those waiting."""
        return self.slot(now, rate, not_before) - now + self.waiting / rate

    def take(self, at: float) -> None:
        self._last = at


def _per_second(times: deque[float], now: float, window: float) -> float:
    horizon = now - window
    while times and times[0] < horizon:
        times.popleft()
    return len(times) / window
