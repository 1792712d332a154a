"""Pruning in bounded batches: one short transaction per batch, until a batch comes back
short (nothing older is left) or the caller's time budget is spent.

One DELETE of every expired row holds the xmin horizon back for as long as it runs and
writes its WAL in one burst: with 5,000,000 expired rows a worker's maintenance ran it for
6 s, and a drain running meanwhile fell to 0.64x. Both stores' prune paths (operator and
worker) loop here, handing in a function that deletes one batch in its own transaction.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

__all__ = ["DEFAULT_BATCH_SIZE", "MAX_BATCH_SIZE", "PRUNE_AGAIN", "WORKER_BUDGET", "Pruned",
           "aprune_in_batches", "check_batch_size", "keep_going", "prune_in_batches"]

# pgtask.prune_batch on this machine (2 cores, Postgres 16, 300,000-1,000,000 expired rows,
# a key on one in ten, a log line on one in five): 10,000 rows ~80-100 ms a call, 1,000 ~45,
# 50,000 ~540, 100,000 ~870; one prune of 770,000 took 2.3 s. 10,000 keeps each transaction
# near 0.1 s while costing little over the per-call overhead.
DEFAULT_BATCH_SIZE = 10_000
MAX_BATCH_SIZE = 1_000_000  # pgtask.prune_batch refuses more
# A worker's maintenance prunes for about this long per round and leaves the rest to the
# next round (every maintenance interval), so it never hogs a pool connection for long.
WORKER_BUDGET = 1.0
# ...unless that round ran out of budget with expired rows left: then the next round comes
# this soon, not after the maintenance interval. 10,000 rows per ~0.1 s batch and a 1 s
# budget every 10 s would prune ~10,000 rows/s, less than a busy worker finishes (~15,000/s
# measured): history would outgrow its retention. Every PRUNE_AGAIN it keeps up with ~50,000.
PRUNE_AGAIN = 1.0


class Pruned(NamedTuple):
    """How many tasks were forgotten, and whether expired ones may be left (the budget ran
    out after a full batch)."""

    total: int
    more: bool


def check_batch_size(batch_size: int) -> int:
    """batch_size, or ValueError if pgtask.prune_batch would refuse it."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE:,}, not {batch_size}")
    return batch_size


def keep_going(pruned: int, batch_size: int, elapsed: float, budget: float | None) -> bool:
    """Whether to run another batch after one that pruned `pruned` rows: a short batch
    means nothing older is left; a spent budget leaves the rest for later."""
    return pruned >= batch_size and (budget is None or elapsed < budget)


def prune_in_batches(batch: Callable[[int], int], batch_size: int, budget: float | None = None,
                     clock: Callable[[], float] = time.monotonic) -> Pruned:
    """Call batch(batch_size) (one committed transaction each) until done or out of budget."""
    check_batch_size(batch_size)
    started, total = clock(), 0
    while True:
        pruned = batch(batch_size)
        total += pruned
        if not keep_going(pruned, batch_size, clock() - started, budget):
            return Pruned(total, more=pruned >= batch_size)


async def aprune_in_batches(batch: Callable[[int], Awaitable[int]], batch_size: int,
                            budget: float | None = None,
                            clock: Callable[[], float] = time.monotonic) -> Pruned:
    """prune_in_batches for an async batch."""
    check_batch_size(batch_size)
    started, total = clock(), 0
    while True:
        pruned = await batch(batch_size)
        total += pruned
        if not keep_going(pruned, batch_size, clock() - started, budget):
            return Pruned(total, more=pruned >= batch_size)
