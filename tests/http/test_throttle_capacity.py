"""Adaptive throttling end to end: real worker processes (default AIMD settings) against a
target that takes 8 requests/s, judged by the target's own log of what it accepted."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.waiting import wait_until

from .capacity import CapacityLimit
from .target import TargetServer
from .test_http_worker import HttpWorker, enqueue, set_queue

CAPACITY = 8            # requests/s the target accepts
BACKLOG = 800           # more than 20 s of capacity: demand never runs out


@pytest.fixture
def limited() -> Iterator[tuple[TargetServer, CapacityLimit]]:
    server = TargetServer().start()
    limit = CapacityLimit(CAPACITY)
    server.responder = limit
    yield server, limit
    server.stop()


@pytest.fixture
def start_workers(dsn):
    started: list[HttpWorker] = []

    def start(n: int) -> list[HttpWorker]:
        started.extend(HttpWorker(dsn) for _ in range(n))  # default AIMD, concurrency 10
        return started

    yield start
    for w in started:
        w.stop()


def first_request(limit: CapacityLimit) -> float:
    wait_until(lambda: limit.log, timeout=60, message="the first dispatch")
    return limit.log[0].at


def wait_for(limit: CapacityLimit, moment: float) -> None:
    """Until the target has seen a request after `moment` (a monotonic time)."""
    wait_until(lambda: limit.log[-1].at > moment, timeout=(moment - time.monotonic()) + 60,
               interval=0.2, message=f"requests past {moment:.1f}")


def fill(db, target: TargetServer) -> None:
    set_queue(db, "hooks", target_url=target.url(), max_attempts=1000, min_backoff="1 s",
              max_backoff="2 s")
    enqueue(db, BACKLOG)


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_throttling_settles_at_the_targets_capacity(db, limited, start_workers, processes):
    """After 10 s: at least 85% of the capacity used, at most 10% of requests refused."""
    target, limit = limited
    fill(db, target)
    workers = start_workers(processes)
    start = first_request(limit)
    wait_for(limit, start + 20.0)
    used, refused = limit.used_and_refused(start + 10.0, start + 20.0)
    print(f"{processes} process(es), 10-20 s: {used:.0%} of capacity used, {refused:.0%} refused")
    assert used >= 0.85 and refused <= 0.10, (used, refused, [w.log()[-2000:] for w in workers])


@pytest.mark.slow
def test_recovery_after_an_outage_never_bursts(db, limited, start_workers):
    """Two workers settle, the target goes down for 4 s (503 to everything), then comes
    back: the dispatch rate climbs back without ever exceeding the capacity by much
    (the old throttle went unthrottled and burst at several times it)."""
    target, limit = limited
    fill(db, target)
    start_workers(2)
    start = first_request(limit)
    wait_for(limit, start + 8.0)
    limit.down(time.monotonic(), 4.0)
    back = time.monotonic() + 4.0
    wait_for(limit, back + 10.0)
    busiest = limit.busiest_second(back, back + 10.0)
    assert busiest <= 1.5 * CAPACITY, busiest
    used, _ = limit.used_and_refused(back + 4.0, back + 10.0)
    print(f"after the outage: busiest second {busiest} requests, {used:.0%} used 4-10 s on")
    assert used >= 0.6, used  # and it did come back
