"""Handlers for the `pgtask worker --serve-port` tests: asgi.nap sleeps payload.seconds,
asgi.hold runs until the test creates a file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pgtask

registry = pgtask.Registry()


@registry.task("asgi.nap")
async def nap(task: pgtask.TaskContext) -> dict:
    await asyncio.sleep(task.payload.get("seconds", 0))
    return {"napped": task.payload.get("seconds", 0)}


@registry.task("asgi.hold")
async def hold(task: pgtask.TaskContext) -> None:
    """Runs until the file payload.release exists (the test's word), 60 s at most."""
    release = Path(task.payload["release"])
    for _ in range(1200):
        if release.exists():
            return
        await asyncio.sleep(0.05)
