"""The store protocol: everything the runtime asks of a database, whatever the backend.

Postgres (postgres.py) and MySQL/MariaDB (mysql.py) implement it with the same semantics;
one contract test suite runs against both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from uuid import UUID

OutcomeKind = Literal["succeeded", "failed", "dead", "snoozed", "released"]


@dataclass(slots=True)
class ClaimedTask:
    """A task this worker holds under a lease (token) and must finish or release."""

    id: int
    queue: str
    task_type: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int  # resolved: the task's own, else its queue's
    lease_token: UUID
    run_at: datetime
    created_at: datetime
    attempted_at: datetime
    idempotency_key: str | None = None
    target_url: str | None = None


@dataclass(slots=True)
class Outcome:
    """What became of a claimed task; flushed in batches by the runner."""

    id: int
    lease_token: UUID
    kind: OutcomeKind
    result: Any = None
    error: str | None = None
    delay: timedelta | None = None


@dataclass(slots=True)
class LogLine:
    task_id: int
    attempt: int
    at: datetime
    level: str
    message: str


@dataclass(slots=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    queues: list[str] | None
    task_types: list[str] | None
    concurrency: int


@dataclass(slots=True)
class EnqueueRequest:
    """One task to enqueue; None fields take the database defaults."""

    task_type: str
    payload: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    run_at: datetime | None = None
    priority: int = 0
    idempotency_key: str | None = None
    max_attempts: int | None = None
    target_url: str | None = None
    delay: timedelta | None = None  # run_at = database now() + delay (when run_at is None)
    # Follow-up tasks (lists of pgtask.chains.follow_up objects): enqueued when this one
    # succeeds (given its result), or when it ends dead.
    on_success: list[dict[str, Any]] | None = None
    on_failure: list[dict[str, Any]] | None = None


class Store(Protocol):
    """An open connection pool to one pgtask database."""

    backend: str
    supports_notify: bool

    async def close(self) -> None: ...

    async def claim(self, queues: Sequence[str] | None, worker_id: str, batch: int,
                    task_types: Sequence[str] | None,
                    with_targets: bool = False) -> list[ClaimedTask]:
        """Lease up to `batch` tasks; with_targets also takes HTTP-target tasks of any type."""

    async def finish(self, outcomes: Sequence[Outcome], logs: Sequence[LogLine] = ()) -> set[int]:
        """Record outcomes (and log lines) in one round trip; return the ids still held."""

    async def heartbeat(self, worker_id: str, held: Sequence[tuple[int, UUID]]) -> set[int]:
        """Extend the leases held; return the ids no longer held (lost or cancelled)."""

    async def register_worker(self, info: WorkerInfo) -> None: ...

    async def deregister_worker(self, worker_id: str) -> None: ...

    async def set_worker_waiting(self, worker_id: str, waiting: bool) -> None:
        """Whether this worker sleeps until woken (only waiting workers are sent NOTIFY)."""

    async def maintain(self, retention: timedelta | None) -> None:
        """Rescue expired leases and prune history older than `retention` (if given)."""

    async def vacuum_hot_table(self, truncate: bool = True) -> bool:
        """Clean up after finished tasks now, if the backend needs it; False if skipped.
        truncate=False: leave the table's size alone (cheaper to get done under load)."""

    async def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[int]: ...

    def notifications(self, channels: Sequence[str]) -> AsyncIterator[tuple[str, str]]:
        """Yield (channel, payload) as they arrive; raise when the connection is lost."""
