"""A handler for the `pgtask worker --serve-port` tests: asgi.nap sleeps payload.seconds."""

from __future__ import annotations

import asyncio

import pgtask

registry = pgtask.Registry()


@registry.task("asgi.nap")
async def nap(task: pgtask.TaskContext) -> dict:
    await asyncio.sleep(task.payload.get("seconds", 0))
    return {"napped": task.payload.get("seconds", 0)}
