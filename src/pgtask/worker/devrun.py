"""`pgtask run`: call a handler once, in-process, with no database (for development)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pgtask.errors import Permanent, Retry
from pgtask.models import ClaimedTask
from pgtask.registry import Registry
from pgtask.worker.context import TaskContext
from pgtask.worker.executor import describe_error


def run_handler_once(registry: Registry, task_type: str,
                     payload: dict[str, Any]) -> tuple[bool, str]:
    """Run the handler of `task_type`; return (succeeded, text to show)."""
    definition = registry.get(task_type)
    if definition is None:
        known = ", ".join(registry.names()) or "none"
        return False, f"no handler for task type {task_type!r} (known: {known})"
    now = datetime.now(UTC)
    claimed = ClaimedTask(0, definition.queue, task_type, payload, 1,
                          definition.max_attempts or 1, uuid4(), now, now, now)

    async def call() -> object:
        ctx = TaskContext(claimed, asyncio.get_running_loop())
        if definition.is_async:
            return await definition.handler(ctx)
        return await asyncio.to_thread(definition.handler, ctx)

    try:
        result = asyncio.run(call())
    except Permanent as exc:
        return False, f"permanent failure: {describe_error(exc)}"
    except Retry as exc:
        return False, f"asked to retry after {exc.after.total_seconds():g}s"
    except Exception as exc:
        return False, f"failed: {describe_error(exc)}"
    return True, json.dumps(result, indent=2, default=str)
