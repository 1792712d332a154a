"""Shared bits of the HTTP tests: tasks, policies and a dispatcher in an event loop."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime

from pgtask.models import ClaimedTask, QueuePolicy
from pgtask.signing import SigningSecret
from pgtask.worker.http import HttpConfig, HttpDispatcher

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
TOKEN = "Bearer tok-3f9a7c1e5d"  # an Authorization value that must never be printed
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_task(task_id: int = 1, *, attempt: int = 1, queue: str = "hooks",
              target_url: str | None = None, key: str | None = None,
              payload: dict | None = None) -> ClaimedTask:
    return ClaimedTask(task_id, queue, "orders.created", payload or {"order": 42}, attempt, 5,
                       uuid.uuid4(), WHEN, WHEN, WHEN, key, target_url)


def make_config(**options) -> HttpConfig:
    options.setdefault("secrets", (SigningSecret.parse(SECRET),))
    return HttpConfig(**options)


def dispatch(config: HttpConfig, tasks, policy: QueuePolicy, **kw):
    """Dispatch tasks concurrently with a fresh dispatcher; returns the Dispatch list."""
    async def main():
        dispatcher = HttpDispatcher(config, **kw)
        await dispatcher.open()
        try:
            return await asyncio.gather(*(dispatcher.dispatch(t, policy) for t in tasks))
        finally:
            await dispatcher.close()
    return asyncio.run(main())
