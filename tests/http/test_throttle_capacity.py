"""Adaptive throttling end to end: real worker processes (default AIMD settings) against a
target that takes 8 requests/s, judged by the target's own log of what it accepted."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import pgtask
from tests.support.waiting import wait_until
from tests.support.workers import ROOT

from .capacity import CapacityLimit
from .helpers import SECRET
from .target import TargetServer
from .test_http_worker import enqueue, set_queue

CAPACITY = 8            # requests/s the target accepts
BACKLOG = 800           # more than 20 s of capacity: demand never runs out
# The pgtask under test: the one this test imported (a checkout of another commit runs its own).
SOURCE = Path(pgtask.__file__).resolve().parents[1]


class Worker:
    """`python -m tests.http.worker_main DSN 10` with default AIMD, its log in a temp file."""

    def __init__(self, dsn: str) -> None:
        # Kept open for the process's life and closed by stop(): no `with` fits.
        self.log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="pgtask-throttle-", suffix=".log", delete=False)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SOURCE), str(ROOT)]),
               "PGTASK_HTTP_SECRETS": SECRET, "PGTASK_HTTP_ALLOW_CIDR": "127.0.0.0/8"}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.http.worker_main", dsn, "10"],
                                     stdout=self.log_file, stderr=subprocess.STDOUT, env=env,
                                     cwd=ROOT)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log_file.close()

    def log(self) -> str:
        return Path(self.log_file.name).read_text()


@pytest.fixture
def limited() -> Iterator[tuple[TargetServer, CapacityLimit]]:
    server = TargetServer().start()
    limit = CapacityLimit(CAPACITY)
    server.responder = limit
    yield server, limit
    server.stop()


@pytest.fixture
def start_workers(dsn):
    started: list[Worker] = []

    def start(n: int) -> list[Worker]:
        started.extend(Worker(dsn) for _ in range(n))
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
