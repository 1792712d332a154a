"""Keep the hot table small: VACUUM it after every few thousand finished tasks.

Every task leaves two dead tuples in pgtask.tasks (the claim's update, the finish's delete),
and their index entries stay until a vacuum. Autovacuum naps a minute between rounds; a
worker finishing 20,000 tasks/s leaves 40,000 dead tuples a second meanwhile. Checked every
10 s against pg_stat's dead-tuple count (which lags by up to a second), the sustained run
(1,000,000 tasks, 2 workers) still ended with a 119 MB hot table. Counting its own finished
tasks, a worker knows at once when a vacuum is due; one runs at a time across workers
(the store's try-lock), each on a table that is still small, so it takes milliseconds.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("pgtask.worker")
# Finished tasks (two dead tuples each) between vacuums, per worker: bench/README.md.
VACUUM_EVERY_TASKS = 5_000


class HotTableVacuum:
    def __init__(self, store, db_errors: tuple[type[BaseException], ...],
                 every: int = VACUUM_EVERY_TASKS) -> None:
        self._store = store
        self._db_errors = db_errors
        self._every = every
        self._finished = 0
        self._running: asyncio.Task | None = None

    def finished(self, count: int) -> None:
        """`count` more tasks left the hot table: start a vacuum if one is due and none runs."""
        self._finished += count
        if self._finished < self._every or (self._running and not self._running.done()):
            return
        self._finished = 0
        self._running = asyncio.create_task(self._vacuum())

    async def _vacuum(self) -> None:
        try:
            await self._store.vacuum_hot_table()
        except self._db_errors as exc:
            log.warning("vacuum of the hot table failed (%s)", type(exc).__name__)

    async def close(self) -> None:
        if self._running is not None:
            self._running.cancel()
            await asyncio.gather(self._running, return_exceptions=True)
