"""The worker's upkeep services: one heartbeat statement for every task in flight, and
periodic maintenance (rescue expired leases, prune old history, compare clocks). Both run
until cancelled: during a drain, running tasks still hold leases and expired ones still
need rescuing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from pgtask.errors import DatabaseUnavailable
from pgtask.retry import reconnect_delay
from pgtask.store.base import Store
from pgtask.store.pruning import PRUNE_AGAIN, WORKER_BUDGET
from pgtask.worker.runs import Runs

log = logging.getLogger("pgtask.worker")
MIN_PERIOD = 0.1  # seconds: however short a lease an owner sets by hand
CLOCK_TOLERANCE = 30.0  # seconds between the worker's clock and the database's before a warning


def heartbeat_period(ceiling: float, shortest_lease: float | None) -> float:
    """Seconds between renewals: `ceiling`, or a third of the shortest lease held if less,
    so that one renewal can fail, or arrive late, and the lease still holds."""
    if shortest_lease is None:
        return ceiling
    return max(MIN_PERIOD, min(ceiling, shortest_lease / 3))


def clock_offset(before: float, database: float, after: float) -> float:
    """Seconds the database's clock is ahead of ours (read between `before` and `after`)."""
    return database - (before + after) / 2


class Heartbeat:
    """Renew every lease held (at once when `beat_now` is set) and report each task whose
    lease is no longer held to `lost`.

    `healthy` is clear from the moment the database stops answering until a renewal gets
    through again: the runner claims and rescues only while it is set, so that after an
    outage this worker renews the leases of the handlers it kept running before its own
    claim could rescue them as expired. `restored` runs first after an outage (the worker
    registers again: its row may have been pruned as stale meanwhile).
    """

    def __init__(self, store: Store, worker_id: str, ceiling: float, runs: Runs,
                 lost: Callable[[int], None], beat_now: asyncio.Event,
                 restored: Callable[[], Awaitable[None]]) -> None:
        self._store = store
        self._worker_id = worker_id
        self._ceiling = ceiling
        self._runs = runs
        self._lost = lost
        self._beat_now = beat_now
        self._restored = restored
        self.healthy = asyncio.Event()
        self.healthy.set()
        self._period = ceiling  # the current wait between renewals

    def claimed(self, shortest_lease: float) -> None:
        """A batch was claimed: if its shortest lease needs renewing sooner than the current
        schedule does, renew now (the new schedule follows from there)."""
        if heartbeat_period(self._ceiling, shortest_lease) < self._period:
            self._beat_now.set()

    def suspect(self) -> None:
        """The database did not answer someone else: hold claims until a renewal lands."""
        self.healthy.clear()
        self._beat_now.set()

    async def run(self, stopping: asyncio.Event) -> None:
        failures = 0
        while True:
            self._period = heartbeat_period(self._ceiling, self._runs.shortest_lease())
            wait = self._period
            if failures:
                wait = min(wait, reconnect_delay(failures - 1, cap=wait))
            try:
                await asyncio.wait_for(self._beat_now.wait(), wait)
            except TimeoutError:
                pass
            self._beat_now.clear()
            try:
                if failures or not self.healthy.is_set():
                    await self._restored()
                lost = await self._store.heartbeat(self._worker_id, self._runs.held())
            except DatabaseUnavailable as exc:
                failures += 1
                self.healthy.clear()
                log.warning("heartbeat failed (%s); handlers keep running, retrying", exc,
                            extra={"event": "heartbeat.failed"})
                continue
            if failures:
                log.info("heartbeat restored after %d failed attempt(s)", failures,
                         extra={"event": "heartbeat.restored"})
            failures = 0
            for task_id in lost:
                self._lost(task_id)
            self.healthy.set()


class Maintenance:
    """Rescue and prune every `interval` seconds (the store lets one worker at a time), once
    this worker's own leases are known to be renewed (`ready`); and say when the worker's
    clock and the database's differ (the database's is the one that counts)."""

    def __init__(self, store: Store, retention: timedelta | None, interval: float,
                 ready: asyncio.Event) -> None:
        self._store = store
        self._retention = retention
        self._interval = interval
        self._ready = ready
        self._clock_off = False

    async def run(self, stopping: asyncio.Event) -> None:
        while True:
            await self._ready.wait()
            more = False
            try:
                # Prune for about a second a round, in short transactions; the rest next
                # round, which comes soon while expired history is left (store/pruning.py).
                more = await self._store.maintain(self._retention, WORKER_BUDGET)
                await self._check_clock()
            except DatabaseUnavailable as exc:
                log.warning("maintenance failed (%s)", exc, extra={"event": "maintenance.failed"})
            await asyncio.sleep(min(self._interval, PRUNE_AGAIN) if more else self._interval)

    async def _check_clock(self) -> None:
        before = time.time()
        database = (await self._store.database_time()).timestamp()
        offset = clock_offset(before, database, time.time())
        off = abs(offset) > CLOCK_TOLERANCE
        if off and not self._clock_off:
            log.warning("this machine's clock is %.0fs %s the database's: leases, schedules "
                        "and retries follow the database's; fix the clock (NTP) to keep logs "
                        "and metrics comparable", abs(offset),
                        "behind" if offset > 0 else "ahead of", extra={"event": "clock.skewed"})
        elif self._clock_off and not off:
            log.info("this machine's clock agrees with the database's again",
                     extra={"event": "clock.restored"})
        self._clock_off = off
