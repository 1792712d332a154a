"""The dispatcher's link to the database: the attempt journal and the shared adaptive rates,
written in the background in batches, and the previous attempts of a retried task.

Writes linger a few milliseconds so that many dispatches share one round trip; a task's
journal row lands at most about LINGER after its outcome. With no database (unit tests, or a
backend without Capability.HTTP_JOURNAL) attempts are only remembered in memory.

Not a runner service: it lives as long as its dispatcher, which closes it (a last flush)
after the worker's last outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import datetime

from pgtask.models import HttpAttempt
from pgtask.store.base import Capability, Store

log = logging.getLogger("pgtask.worker.http")

LINGER = 0.05           # seconds a write waits for company
MAX_BUFFERED = 10_000   # attempts kept while the database is unreachable
REMEMBERED = 10_000     # tasks whose latest attempt is kept in memory


History = tuple[int, int | None]  # (attempts that got an answer, the last status)


class Journal:
    def __init__(self, store: Store | None = None) -> None:
        # The store when it keeps a journal; else attempts live in memory only.
        self._store = (store if store is not None
                       and Capability.HTTP_JOURNAL in store.capabilities else None)
        self._attempts: list[HttpAttempt] = []
        self._rates: dict[str, float | None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lookup_task: asyncio.Task[None] | None = None
        self._lookups: dict[int, list[asyncio.Future[History]]] = {}
        self._memory: OrderedDict[int, History] = OrderedDict()
        self.rates_stamped_at: datetime | None = None  # database time of our last rates

    def start(self) -> None:
        if self._store is not None:
            self._task = asyncio.create_task(self._run(), name="pgtask-http-journal")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            await self._flush()

    def add(self, attempt: HttpAttempt) -> None:
        executions, previous = self._memory.pop(attempt.task_id, (0, None))
        if attempt.status is not None:
            executions, previous = executions + 1, attempt.status
        self._memory[attempt.task_id] = (executions, previous)
        while len(self._memory) > REMEMBERED:
            self._memory.popitem(last=False)
        if self._store is not None:
            self._attempts.append(attempt)
            del self._attempts[:-MAX_BUFFERED]
            self._wake.set()

    def publish(self, queue: str, rate: float | None) -> None:
        self._rates[queue] = rate
        self._wake.set()

    async def history(self, task_id: int) -> History:
        """(earlier attempts that got an answer, the last status) for a retried task."""
        if self._store is None:
            return self._memory.get(task_id, (0, None))
        future: asyncio.Future[History] = asyncio.get_running_loop().create_future()
        first = not self._lookups
        self._lookups.setdefault(task_id, []).append(future)
        if first:  # one query answers every lookup made before it gets to run
            self._lookup_task = asyncio.create_task(self._look_up(self._store))
        return await future

    async def _look_up(self, store: Store) -> None:
        lookups, self._lookups = self._lookups, {}
        try:
            found = await store.attempt_history(list(lookups))
        except Exception as exc:  # headers are a courtesy: never fail a dispatch over them
            log.warning("cannot read earlier attempts: %s", type(exc).__name__,
                        extra={"event": "http.history_failed"})
            found = {}
        for task_id, futures in lookups.items():
            for future in futures:
                if not future.done():
                    future.set_result(found.get(task_id) or self._memory.get(task_id, (0, None)))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(LINGER)
            self._wake.clear()
            if not await self._flush():
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _flush(self) -> bool:
        """Write what is buffered; False (keeping it buffered) when the database refused."""
        attempts, rates = self._attempts, self._rates
        if self._store is None or not attempts and not rates:
            return True
        self._attempts, self._rates = [], {}
        try:
            stamped = await self._store.record_http_attempts(attempts, rates)
        except Exception as exc:
            log.warning("cannot record %d HTTP attempts (%s); will retry",
                        len(attempts), type(exc).__name__, extra={"event": "http.record_failed"})
            self._attempts[:0] = attempts
            self._rates = {**rates, **self._rates}
            return False
        if stamped is not None:
            self.rates_stamped_at = stamped
        return True
