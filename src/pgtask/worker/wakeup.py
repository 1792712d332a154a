"""When the claim loop sleeps, and what wakes it.

A worker with free slots sleeps until NOTIFY (sent only while the database knows this
worker is waiting: see pgtask.workers.waiting), a freed slot, a retry falling due, or its
poll interval. Without NOTIFY (MySQL, --no-listen) the poll adapts: fast while claims
return work, backing off to the poll interval when idle.

A claim that came back short because of a queue's limit, not a lack of work, sleeps less
(the store's claim_wait says which): until the next token of a rate limit, however long the
poll interval; on a full concurrency limit until a finish in that queue sends NOTIFY
(finish_tasks), or, without NOTIFY, SLOT_POLL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pgtask.errors import DatabaseUnavailable
from pgtask.models import ClaimWait
from pgtask.store.base import Store
from pgtask.worker.polling import AdaptivePolling
from pgtask.worker.service import unless_stopped

log = logging.getLogger("pgtask.worker")
BUSY_AFTER = 1.0  # seconds of full claims before a worker tells the database it is busy
# Without NOTIFY, how often a worker held back by a full concurrency limit looks for a free
# slot: a slot idles at most this long (an idle claim on MySQL is a few ms of work).
SLOT_POLL = 0.05
TOKEN_SLACK = 0.002  # wake this much after the next token is due, never in a busy loop
# A worker whose queues have no limit at all does not ask after every short claim (one more
# round trip each time, most of all for a worker picking up tasks one by one): it asks again
# this long after the answer. A limit set meanwhile is enforced by the claims from the first
# moment; only the wake-up on its next token waits up to this long.
LIMITS_RECHECK = 10.0


class Wakeup:
    def __init__(self, store: Store, worker_id: str, notify_on: bool,
                 poll_interval: float,
                 limits: Callable[[], Awaitable[ClaimWait]] | None = None,
                 stopping: asyncio.Event | None = None) -> None:
        self.event = asyncio.Event()
        # Set by the worker's stop(): a database call here then gives up at once, so that a
        # silent database does not hold the drain back (its clock is already running).
        self._stopping = stopping or asyncio.Event()
        self._limits = limits  # after a short claim: did a queue's limit hold work back?
        self._store = store
        self._worker_id = worker_id
        self._notify_on = notify_on
        self._poll_interval = poll_interval
        self._polling = AdaptivePolling(max_delay=poll_interval)
        self._waiting = False  # mirrors pgtask.workers.waiting
        self._full_since: float | None = None
        self._unlimited_until = float("-inf")  # loop time: "no queue of mine has a limit"

    def set(self) -> None:
        self.event.set()

    def clear(self) -> None:
        """Before each claim, so that a wake-up arriving during the claim is not lost."""
        self.event.clear()

    async def after_claim(self, claimed: int, asked: int) -> None:
        """Sleep as the last claim suggests; return at once when the loop should claim again."""
        if claimed < asked:
            if await self._mark(True):
                return  # claim once more: a task inserted just before the mark woke nobody
            await self._sleep(claimed, asked)
        elif self._waiting:
            await self._mark(False)

    async def _mark(self, waiting: bool) -> bool:
        """Tell the database whether NOTIFY should wake this worker; True if that changed.

        Going busy waits until claims have come back full for BUSY_AFTER seconds, so a worker
        near its capacity does not flip the flag (a write) on every claim.
        """
        now = asyncio.get_running_loop().time()
        if not waiting:
            if self._full_since is None:
                self._full_since = now
            if now - self._full_since < BUSY_AFTER:
                return False
        self._full_since = None
        if waiting == self._waiting or not self._notify_on:
            return False
        try:
            await unless_stopped(self._stopping,
                                 self._store.set_worker_waiting(self._worker_id, waiting))
        except DatabaseUnavailable as exc:
            log.warning("could not mark worker %s: %s", "waiting" if waiting else "busy", exc,
                        extra={"event": "worker.mark_failed"})
            return False
        self._waiting = waiting
        return True

    async def _sleep(self, claimed: int, asked: int) -> None:
        delay = self._poll_interval
        if not self._notify_on:
            delay = self._polling.next_delay(claimed, asked)
        delay = limited_delay(delay, await self._held_back(), self._notify_on)
        try:
            await asyncio.wait_for(self.event.wait(), delay)
        except TimeoutError:
            pass

    async def _held_back(self) -> ClaimWait:
        now = asyncio.get_running_loop().time()
        if self._limits is None or now < self._unlimited_until:
            return ClaimWait()
        try:
            wait = await unless_stopped(self._stopping, self._limits()) or ClaimWait()
        except DatabaseUnavailable as exc:  # the poll interval is the safety net
            log.warning("could not ask the queues' limits: %s", exc,
                        extra={"event": "limits.failed"})
            return ClaimWait()
        if not wait.limited:
            self._unlimited_until = now + LIMITS_RECHECK
        return wait


def limited_delay(delay: float, wait: ClaimWait, notify_on: bool) -> float:
    """The sleep after a short claim, shortened when a limit (not a lack of work) held ready
    tasks back: until the next rate token, or SLOT_POLL for a full concurrency limit when no
    NOTIFY will say that a slot freed."""
    if wait.next_token_in is not None:
        delay = min(delay, max(0.0, wait.next_token_in) + TOKEN_SLACK)
    if wait.slots_full and not notify_on:
        delay = min(delay, SLOT_POLL)
    return delay
