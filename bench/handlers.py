"""pgtask handlers for the benchmark: a no-op, and one that records when it started."""

from __future__ import annotations

import pgtask
from probe import record_start


@pgtask.task("bench.noop")
async def noop(ctx) -> None:
    return None


@pgtask.task("bench.latency")
async def latency(ctx) -> None:
    record_start(ctx.payload["k"])
