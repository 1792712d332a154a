"""Why a queue lags: the hints `pgtask top`, `pgtask stats` and the dashboard show next to
a queue whose work is waiting. Pure functions of one snapshot's rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# A limit counts as reached when the queue runs at this share of it (rates are averages).
NEAR_LIMIT = 0.8


@dataclass(frozen=True, slots=True)
class ReadyType:
    """The tasks of one type ready to run now in one queue."""

    queue: str
    task_type: str
    ready: int
    registered: bool  # some worker has declared the type (pgtask.task_types)
    served: bool      # a live worker serves this queue and runs this type


@dataclass(frozen=True, slots=True)
class QueueState:
    """What the hints need to know about a queue (a subset of snapshot.QueueStats)."""

    name: str
    paused: bool
    queued: int
    scheduled: int
    running: int
    concurrency_limit: int | None
    rate_limit: float | None
    started_per_second: float  # completed + failed attempts per second, last 10 s


def lag_hints(queue: QueueState, types: Sequence[ReadyType],
              live_workers_serving: int) -> tuple[str, ...]:
    """Short reasons, most fundamental first, why `queue`'s tasks wait; () when none apply."""
    if queue.queued == 0:
        return (f"{queue.scheduled:,} scheduled for later",) if queue.scheduled else ()
    hints = []
    if queue.paused:
        hints.append("paused")
    if live_workers_serving == 0:
        hints.append("no live worker serves this queue")
    mine = [t for t in types if t.queue == queue.name]
    never = [t.task_type for t in mine if not t.registered]
    if never:
        hints.append(f"never registered by a worker: {_names(never)}")
    if live_workers_serving:
        unserved = [t.task_type for t in mine if t.registered and not t.served]
        if unserved:
            hints.append(f"no live worker runs {_names(unserved)}")
    if queue.concurrency_limit is not None and queue.running >= queue.concurrency_limit:
        hints.append(f"concurrency limit {queue.concurrency_limit} reached")
    if queue.rate_limit is not None and \
            queue.started_per_second >= NEAR_LIMIT * queue.rate_limit:
        hints.append(f"rate limit {queue.rate_limit:g}/s reached")
    if queue.scheduled:
        hints.append(f"{queue.scheduled:,} more scheduled for later")
    return tuple(hints)


def unregistered_types(types: Sequence[ReadyType]) -> tuple[str, ...]:
    """Task types with tasks ready that no worker has ever registered, sorted."""
    return tuple(sorted({t.task_type for t in types if not t.registered}))


def _names(names: Sequence[str], shown: int = 3) -> str:
    head = ", ".join(names[:shown])
    return head + (f" +{len(names) - shown} more" if len(names) > shown else "")
