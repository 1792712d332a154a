"""The runs a worker holds. A run is one claim of a task: (task id, lease token), never the
task id alone, because the database may give this very worker the same task again under a
new token once the old lease ran out (an outage longer than the lease, a lease shorter than
a heartbeat). The old run is then stale: it is stopped at once and its late outcome is
discarded by the database (fencing by token). The new run does not start its handler until
the stale one has ended, so one process never runs two handlers of one task at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from pgtask.models import ClaimedTask
from pgtask.worker.context import TaskContext

# Why the worker interrupted a run: decides what (if anything) is recorded.
StopReason = Literal["cancelled", "lost", "shutdown"]


@dataclass(eq=False, slots=True)
class Run:
    claimed: ClaimedTask
    ctx: TaskContext
    job: asyncio.Task[None] | None = None
    stop_reason: StopReason | None = None  # set when the worker takes the run away
    cancel_asked: bool = False  # a cancel NOTIFY named this task: the heartbeat will tell
    released: bool = False  # released by the drain while its thread still ran
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def key(self) -> tuple[int, UUID]:
        return self.claimed.id, self.claimed.lease_token

    def stop(self, reason: StopReason) -> bool:
        """Take the run away (once): its handler sees ctx.cancelled and a CancelledError.
        False if it was already being stopped."""
        if self.stop_reason is not None:
            return False
        self.stop_reason = reason
        self.ctx.cancel()
        if self.job is not None:
            self.job.cancel()
        return True


class Runs:
    """Every run this worker holds, stale ones included until their handlers return."""

    def __init__(self) -> None:
        self._runs: dict[tuple[int, UUID], Run] = {}

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(list(self._runs.values()))

    def add(self, run: Run) -> list[Run]:
        """Hold `run`; return the earlier runs of the same task, which it supersedes."""
        earlier = self.of_task(run.claimed.id)
        self._runs[run.key] = run
        return earlier

    def remove(self, run: Run) -> None:
        if self._runs.get(run.key) is run:
            del self._runs[run.key]
        run.ended.set()

    def of_task(self, task_id: int) -> list[Run]:
        return [r for r in self._runs.values() if r.claimed.id == task_id]

    def held(self) -> list[tuple[int, UUID]]:
        """What the heartbeat renews: every lease held, stale ones too (the database
        answers those as lost, which is what they are)."""
        return list(self._runs)

    def shortest_lease(self) -> float | None:
        """Seconds of the shortest lease held, None when none is."""
        return min((r.claimed.lease.total_seconds() for r in self._runs.values()), default=None)
