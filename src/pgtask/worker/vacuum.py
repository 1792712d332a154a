"""Keep the hot table small: VACUUM it after every few thousand finished tasks.

Every task leaves two dead tuples in pgtask.tasks (the claim's update, the finish's delete),
and their index entries stay until a vacuum. Autovacuum naps a minute between rounds (and is
off on some servers, like this project's CI); a worker finishing 20,000 tasks/s leaves 40,000
dead tuples a second meanwhile. Sustained run, 1,000,000 tasks through 2 workers
(bench/README.md): with the old check of pg_stat's dead-tuple count every 10 s, the hot table
ended at 119 MB; counting finishes here and vacuuming every 5,000 of them, 39-54 MB, because
each VACUUM spent up to 5 s waiting for the lock to cut off empty pages; without that
truncation under load (store.vacuum_hot_table), it peaked at 4.9 MB (9.3 MB with indexes).
When a burst ends, one vacuum with truncation gives the space back. One vacuum runs at a time
across workers (the store's try-lock), each on a table that is still small: ~15 ms.
"""

from __future__ import annotations

import asyncio
import logging

from pgtask.errors import DatabaseUnavailable
from pgtask.store.base import Store

log = logging.getLogger("pgtask.worker")
# Finished tasks (two dead tuples each) between vacuums, per worker: bench/README.md.
VACUUM_EVERY_TASKS = 5_000
# When a burst ends (a claim comes back short), vacuum after this many: the next claim then
# walks an index without the burst's dead entries, and the table shrinks back (VACUUM cuts
# off empty pages at its end). Fewer are left to autovacuum.
VACUUM_WHEN_IDLE_AFTER = 1_000


class HotTableVacuum:
    def __init__(self, store: Store, every: int = VACUUM_EVERY_TASKS) -> None:
        self._store = store
        self._every = every
        self._finished = 0
        self._running: asyncio.Task[None] | None = None

    def finished(self, count: int) -> None:
        """`count` more tasks left the hot table: start a vacuum if one is due."""
        self._finished += count
        if self._finished >= self._every:
            self._start(truncate=False)

    def idle(self) -> None:
        """The queue ran dry: clean up after the burst that just ended, if there was one."""
        if self._finished >= VACUUM_WHEN_IDLE_AFTER:
            self._start(truncate=True)

    def _start(self, truncate: bool) -> None:
        if self._running is not None and not self._running.done():
            return  # one at a time; the count carries over
        self._finished = 0
        self._running = asyncio.create_task(self._vacuum(truncate))

    async def _vacuum(self, truncate: bool) -> None:
        try:
            await self._store.vacuum_hot_table(truncate)
        except DatabaseUnavailable as exc:
            log.warning("vacuum of the hot table failed (%s)", exc,
                        extra={"event": "vacuum.failed"})

    async def close(self) -> None:
        if self._running is not None:
            self._running.cancel()
            await asyncio.gather(self._running, return_exceptions=True)
