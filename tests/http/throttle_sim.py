"""A simulated run of the adaptive throttle (pure, deterministic): `workers` dispatchers, each
with its own AdaptiveRate and Pacer and an endless backlog, share their rates as the database
does (a decrease at once, a rise at most once a second, visible after a delay), against a
target that accepts at most `capacity` requests in any one second (capacity.py's
CapacityLimit, the one the end-to-end tests run against).
"""

from __future__ import annotations

import heapq
import random

from pgtask.worker.http.throttle import AdaptiveRate, AimdSettings, Pacer

from .capacity import CapacityLimit

STEP = 0.005            # seconds of simulated time per tick
UNTHROTTLED = 40.0      # requests/s one worker sends when nothing holds it back
PUBLISH_EVERY = 1.0     # seconds between two publications of a rising rate
VISIBLE_AFTER = 0.3     # seconds before other workers see a publication
DEFAULTS = AimdSettings()


def simulate(capacity: int, *, workers: int = 1, seconds: float = 20.0,
             settings: AimdSettings = DEFAULTS, outage: tuple[float, float] | None = None,
             seed: int = 1) -> CapacityLimit:
    target, rnd = CapacityLimit(capacity), random.Random(seed)
    if outage is not None:
        target.down(outage[0], outage[1] - outage[0])
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
    return target  # its log is the run
