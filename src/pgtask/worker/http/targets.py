"""What the runner needs to serve HTTP queues, in one object.

    targets = HttpTargets(HttpConfig.from_env(allow=...))
    worker = Worker(dsn, registry, config, targets=targets)   # the runner then does:
    targets.use_database_id(await store.database_id())       # scopes webhook-ids
    await targets.open(store)                  # after the store opens
    ...                                        # targets.service runs with the other services
    if targets.serves(claimed):                # in the executor, before handler lookup
        outcome = await targets.run(claimed)
    await targets.close()                      # after the last outcome is flushed

It keeps every queue's dispatch policy, refreshed every `refresh_interval` seconds (and at
once when a task names a queue it has not seen), so the shared adaptive rate and operator
changes reach a running worker without a restart. Both backends keep queue policies, so
queue-level targets deliver on MySQL/MariaDB too; the attempt journal and the shared
adaptive rate are Postgres-only (Capability.HTTP_JOURNAL, worker/http/journal.py).
"""

from __future__ import annotations

import asyncio
import logging
import time

from pgtask.models import ClaimedTask, Outcome, QueuePolicy
from pgtask.store.base import Store
from pgtask.telemetry import NO_TRACING, Tracing
from pgtask.worker.http.config import HttpConfig
from pgtask.worker.http.dispatch import HttpDispatcher
from pgtask.worker.service import wait_or_stop

log = logging.getLogger("pgtask.worker.http")


class HttpTargets:
    def __init__(self, config: HttpConfig, *, refresh_interval: float = 2.0) -> None:
        self.dispatcher = HttpDispatcher(config)
        self.refresh_interval = refresh_interval
        self.policies: dict[str, QueuePolicy] = {}
        self.service = PolicyRefresh(self)
        self._store: Store | None = None  # None: not opened yet, no queue policies to read
        self._refreshed_at = float("-inf")
        self._opened = asyncio.Event()
        self.tracing: Tracing = NO_TRACING

    def use_tracing(self, tracing: Tracing) -> None:
        """The worker's Tracing (pgtask.telemetry): a span per delivery, sent as traceparent."""
        self.tracing = self.dispatcher.tracing = tracing

    def use_database_id(self, database_id: str) -> None:
        """The id of the worker's database (Store.database_id()): it scopes every webhook-id.
        The runner calls this before open(), which refuses to start without it."""
        self.dispatcher.use_database_id(database_id)

    async def open(self, store: Store) -> None:
        await self.dispatcher.open(store)
        self._store = store
        await self.refresh()
        self._opened.set()

    async def wait_open(self) -> None:
        """Until open() has finished (for a runner that opens targets in the background)."""
        await self._opened.wait()

    async def close(self) -> None:
        await self.dispatcher.close()

    async def refresh(self) -> None:
        if self._store is None:
            return
        self.policies = await self._store.queue_policies()
        self._refreshed_at = time.monotonic()

    def http_queues(self) -> list[str]:
        """Queues with a target URL: a worker without handlers serves these."""
        return sorted(name for name, p in self.policies.items() if p.target_url)

    def serves(self, claimed: ClaimedTask) -> bool:
        """True when the task goes to an HTTP target instead of a Python handler."""
        policy = self.policies.get(claimed.queue)
        return bool(claimed.target_url or (policy is not None and policy.target_url))

    async def run(self, claimed: ClaimedTask) -> Outcome:
        """Dispatch the task; like Executor.run, a CancelledError when the worker takes it
        away (the runner knows why)."""
        await self._opened.wait()
        policy = self.policies.get(claimed.queue)
        if policy is None and time.monotonic() - self._refreshed_at > 1.0:
            await self.refresh()  # a queue created since the last refresh
            policy = self.policies.get(claimed.queue)
        with self.tracing.attempt(claimed) as span:  # current while the request is built
            dispatch = await self.dispatcher.dispatch(claimed, policy or QueuePolicy(claimed.queue))
            outcome = dispatch.outcome(claimed)
            span.ended(outcome)
            return outcome


class PolicyRefresh:
    """A worker service: refresh the targets' queue policies until the worker stops."""

    def __init__(self, targets: HttpTargets) -> None:
        self._targets = targets

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await wait_or_stop(stopping, self._targets.refresh_interval)
            try:
                await self._targets.refresh()
            except Exception as exc:  # the database may be away; keep the last policies
                log.warning("refreshing queue dispatch policies failed (%s)",
                            type(exc).__name__, extra={"event": "http.policies_failed"})
