"""A simulated run of the adaptive throttle (pure, deterministic): `workers` dispatchers, each
with its own AdaptiveRate and Pacer and an endless backlog, share their rates as the database
does (a decrease at once, a rise at most once a second, visible after a delay), against a
target that accepts at most `capacity` requests in any one second.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass, field

from pgtask.worker.http.throttle import AdaptiveRate, AimdSettings, Pacer

STEP = 0.005            # seconds of simulated time per tick
UNTHROTTLED = 40.0      # requests/s one worker sends when nothing holds it back
PUBLISH_EVERY = 1.0     # seconds between two publications of a rising rate
VISIBLE_AFTER = 0.3     # seconds before other workers see a publication
DEFAULTS = AimdSettings()


@dataclass
class Run:
    log: list[tuple[float, bool]] = field(default_factory=list)  # (arrival, accepted)

    def used_and_refused(self, start: float, end: float) -> tuple[float, float]:
        seen = [ok for at, ok in self.log if start <= at < end]
        return sum(seen) / (self._capacity * (end - start)), seen.count(False) / max(1, len(seen))

    def busiest_second(self, start: float, end: float) -> int:
        times = [at for at, _ in self.log if start <= at < end]
        return max((sum(1 for t in times if s <= t < s + 1.0) for s in times), default=0)

    _capacity: float = 1.0


class _Target:
    def __init__(self, capacity: int, outage: tuple[float, float] | None, run: Run) -> None:
        self.capacity, self.outage, self.run = capacity, outage, run
        self.window: deque[float] = deque()

    def answer(self, at: float) -> bool:
        while self.window and self.window[0] <= at - 1.0:
            self.window.popleft()
        down = self.outage is not None and self.outage[0] <= at < self.outage[1]
        ok = not down and len(self.window) < self.capacity
        if ok:
            self.window.append(at)
        self.run.log.append((at, ok))
        return ok


def simulate(capacity: int, *, workers: int = 1, seconds: float = 20.0,
             settings: AimdSettings = DEFAULTS, outage: tuple[float, float] | None = None,
             seed: int = 1) -> Run:
    run = Run(_capacity=capacity)
    target, rnd = _Target(capacity, outage, run), random.Random(seed)
    rates = [AdaptiveRate(settings) for _ in range(workers)]
    pacers = [Pacer() for _ in range(workers)]
    last_sent = [float("-inf")] * workers
    published: list[tuple[float, float | None, int]] = []  # (visible at, rate, by)
    ours = [(float("-inf"), None)] * workers                # (when, what) each published
    read = [0] * workers
    answers: list[tuple[float, int, float, bool]] = []      # heap: (due, worker, sent, ok)

    def send(w: int, now: float, held: bool) -> None:
        rates[w].started(now, held=held)
        last_sent[w] = now
        latency = 0.02 * (0.5 + rnd.random())
        heapq.heappush(answers, (now + latency, w, now, target.answer(now)))

    now = 0.0
    while now < seconds:
        while answers and answers[0][0] <= now:
            due, w, sent, ok = heapq.heappop(answers)
            decreased = rates[w].response(due, pushback=not ok, sent_at=sent, workers=workers)
            rate = rates[w].rate(due)
            if rate != ours[w][1] and (decreased or rate is None
                                       or due - ours[w][0] >= PUBLISH_EVERY):
                ours[w] = (due, rate)
                published.append((due + VISIBLE_AFTER, rate, w))
        for w in range(workers):
            for visible, rate, by in published[read[w]:]:
                if visible > now:
                    break
                read[w] += 1
                current = rates[w].rate(now)
                if by != w and visible - VISIBLE_AFTER > ours[w][0] and rate is not None \
                        and (current is None or rate < current):
                    rates[w].set(now, rate)
            rate = rates[w].rate(now)
            if rate is None:
                if now - last_sent[w] >= 1 / UNTHROTTLED:
                    send(w, now, held=False)
            elif pacers[w].slot(now, rate / workers) <= now and rnd.random() < 0.5:
                pacers[w].take(now)
                send(w, now, held=True)
        now += STEP
    return run
