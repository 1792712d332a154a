"""The worker's upkeep services: one heartbeat statement for every task in flight, and
periodic maintenance (rescue expired leases, prune old history). Both run until cancelled:
during a drain, running tasks still hold leases and expired ones still need rescuing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from uuid import UUID

from pgtask.errors import DatabaseUnavailable
from pgtask.store.base import Store

log = logging.getLogger("pgtask.worker")


class Heartbeat:
    """Every `interval` (or at once when `beat_now` is set): extend the leases of `held()`,
    and report each task whose lease is no longer held to `lost`."""

    def __init__(self, store: Store, worker_id: str, interval: float,
                 held: Callable[[], list[tuple[int, UUID]]], lost: Callable[[int], None],
                 beat_now: asyncio.Event) -> None:
        self._store = store
        self._worker_id = worker_id
        self._interval = interval
        self._held = held
        self._lost = lost
        self._beat_now = beat_now

    async def run(self, stopping: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(self._beat_now.wait(), self._interval)
            except TimeoutError:
                pass
            self._beat_now.clear()
            try:
                lost = await self._store.heartbeat(self._worker_id, self._held())
            except DatabaseUnavailable as exc:
                log.warning("heartbeat failed (%s)", exc)
                continue
            for task_id in lost:
                self._lost(task_id)


class Maintenance:
    """Rescue and prune every `interval` seconds (the store lets one worker at a time)."""

    def __init__(self, store: Store, retention: timedelta | None, interval: float) -> None:
        self._store = store
        self._retention = retention
        self._interval = interval

    async def run(self, stopping: asyncio.Event) -> None:
        while True:
            try:
                await self._store.maintain(self._retention)
            except DatabaseUnavailable as exc:
                log.warning("maintenance failed (%s)", exc)
            await asyncio.sleep(self._interval)
