"""Shared bits of the HTTP tests: tasks, policies and a dispatcher in an event loop."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime

from pgtask.models import ClaimedTask, QueuePolicy
from pgtask.signing import SigningSecret
from pgtask.worker.http import HttpConfig, HttpDispatcher
from pgtask.worker.http.egress import parse_cidr

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
TOKEN = "Bearer tok-3f9a7c1e5d"  # an Authorization value that must never be printed
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DATABASE_ID = "0f5e7c1a-3b7d-4c9e-8a21-6d4f2b9e1c30"  # what Store.database_id() would say
LOOPBACK = (parse_cidr("127.0.0.0/8"),)  # the test targets listen on 127.0.0.1


def make_task(task_id: int = 1, *, attempt: int = 1, queue: str = "hooks",
              target_url: str | None = None, key: str | None = None,
              payload: dict | None = None) -> ClaimedTask:
    return ClaimedTask(task_id, queue, "orders.created", payload or {"order": 42}, attempt, 5,
                       uuid.uuid4(), WHEN, WHEN, WHEN, key, target_url)


def make_config(**options) -> HttpConfig:
    options.setdefault("secrets", (SigningSecret.parse(SECRET),))
    options.setdefault("allow_cidrs", LOOPBACK)
    return HttpConfig(**options)


def make_dispatcher(config: HttpConfig, **kw) -> HttpDispatcher:
    """A dispatcher told its database id, as the runner tells HttpTargets."""
    dispatcher = HttpDispatcher(config, **kw)
    dispatcher.use_database_id(DATABASE_ID)
    return dispatcher


def dispatch(config: HttpConfig, tasks, policy: QueuePolicy, **kw):
    """Dispatch tasks concurrently with a fresh dispatcher; returns the Dispatch list."""
    async def main():
        dispatcher = make_dispatcher(config, **kw)
        await dispatcher.open()
        try:
            return await asyncio.gather(*(dispatcher.dispatch(t, policy) for t in tasks))
        finally:
            await dispatcher.close()
    return asyncio.run(main())
