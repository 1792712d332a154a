"""The seam: every call the worker and the faces make into a database, whatever the backend.

Postgres (store/postgres/) and MySQL/MariaDB (store/mysql/) implement these protocols with the
same semantics; one contract suite runs against both. What a backend cannot do is a declared
Capability, refused in one line by `require` (never an AttributeError, never a backend string).
Both raise pgtask.errors.DatabaseUnavailable when the database cannot be reached, whatever the
driver, and pgtask.errors.Refused when it refuses a value.

- Store: the worker's async pool (claim, finish, heartbeat, workers, maintenance, HTTP journal).
- Listener: one LISTEN session, opened by Store.listener (Capability.NOTIFY).
- Operator: the faces' sync reads and admin (ls, show, stats, top, queue, prune, web API).
- Browser, BrowserPool: the web app's extra reads, on a sync pool (Capability.WEB).
- Schedules, DoneStream (in store/sessions.py): async sessions on a dedicated connection
  each (Postgres only: Capability.SCHEDULES, Capability.FOLLOW).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from pgtask.config import backend_of
from pgtask.errors import Unsupported
from pgtask.models import (
    Backend,
    ClaimedTask,
    ClaimWait,
    EnqueueRequest,
    Finished,
    HttpAttempt,
    LogLine,
    Outcome,
    QueuePolicy,
    WorkerInfo,
)
from pgtask.store.pruning import DEFAULT_BATCH_SIZE, WORKER_BUDGET

Row = dict[str, Any]


class Capability(enum.StrEnum):
    """What some backends can do and others cannot; each store declares its set."""

    NOTIFY = "LISTEN/NOTIFY wake-ups and cancels"  # else: workers poll
    SCHEDULES = "schedules (cron and intervals)"
    HTTP_JOURNAL = "a shared HTTP attempt journal and adaptive dispatch rates"
    GROUPS = "task groups"
    FOLLOW = "a stream of finished tasks (pgtask.follow)"
    WEB = "the HTTP API and dashboard (pgtask serve)"
    HOT_TABLE_VACUUM = "vacuuming the hot table"


# What each backend can do: its Store, Operator, sessions and web pool all declare this set.
CAPABILITIES: dict[Backend, frozenset[Capability]] = {
    Backend.POSTGRES: frozenset(Capability),
    Backend.MYSQL: frozenset(),  # polling, no schedules, groups, done stream, web or journal
}


class HasCapabilities(Protocol):
    @property
    def backend(self) -> Backend: ...

    @property
    def capabilities(self) -> frozenset[Capability]: ...


@dataclass(frozen=True, slots=True)
class Served:
    """HasCapabilities for a DSN, before anything connects to it."""

    backend: Backend

    @property
    def capabilities(self) -> frozenset[Capability]:
        return CAPABILITIES[self.backend]


def served(dsn: str) -> Served:
    return Served(backend_of(dsn))


def require(store: HasCapabilities, capability: Capability) -> None:
    """Refuse, in one line that says what to do, an operation the backend cannot serve."""
    if capability not in store.capabilities:
        raise Unsupported(f"{store.backend.label} does not support {capability.value}: "
                          f"use PostgreSQL for this")


class Listener(Protocol):
    """One LISTEN session: connect, then receive (channel, payload) pairs until closed."""

    async def connect(self, timeout: float) -> None: ...

    async def receive(self, timeout: float) -> list[tuple[str, str]]:
        """Wait up to `timeout` for notifications; [] when none came."""

    async def ping(self, timeout: float) -> None:
        """Prove the session still carries bytes within `timeout` seconds (raises
        DatabaseUnavailable if not, and the session is then over)."""

    async def close(self) -> None: ...


class Store(HasCapabilities, Protocol):
    """An open connection pool to one pgtask database, for one worker process."""

    async def open(self, timeout: float = 15.0) -> None: ...

    async def close(self) -> None: ...

    def listener(self, channels: Sequence[str]) -> Listener:
        """A LISTEN session on its own connection (requires Capability.NOTIFY)."""

    async def claim(self, queues: Sequence[str] | None, worker_id: str, batch: int,
                    task_types: Sequence[str] | None,
                    with_targets: bool = False) -> list[ClaimedTask]:
        """Lease up to `batch` tasks; with_targets also takes HTTP-target tasks of any type."""

    async def claim_wait(self, queues: Sequence[str] | None, task_types: Sequence[str] | None,
                         with_targets: bool = False) -> ClaimWait:
        """After a short claim: whether a queue's limit (not a lack of work) held ready tasks
        back, and how long until a rate-limited queue earns its next token."""

    async def finish(self, outcomes: Sequence[Outcome], logs: Sequence[LogLine] = ()) -> Finished:
        """Record outcomes (and log lines) in one round trip: which were applied (the lease
        still held), and when the earliest task they requeued falls due."""

    async def heartbeat(self, worker_id: str, held: Sequence[tuple[int, UUID]]) -> set[int]:
        """Extend the leases held; return the ids no longer held (lost or cancelled)."""

    async def database_time(self) -> datetime:
        """The database's clock now (the only clock; the worker warns when its own drifts)."""

    async def database_id(self) -> str:
        """An id of this database, stable across restarts and distinct from other databases
        (it scopes HTTP targets' webhook-ids); letters, digits and '-' only."""

    async def register_worker(self, info: WorkerInfo) -> None: ...

    async def deregister_worker(self, worker_id: str) -> None: ...

    async def register_task_types(self, worker_id: str,
                                  definitions: Sequence[Mapping[str, Any]]) -> int:
        """Upsert the task types this worker runs (registry.definitions()), so enqueues
        that leave out queue, priority or max_attempts take them; how many."""

    async def set_worker_waiting(self, worker_id: str, waiting: bool) -> None:
        """Whether this worker sleeps until woken (only waiting workers are sent NOTIFY)."""

    async def maintain(self, retention: timedelta | None,
                       prune_budget: float | None = WORKER_BUDGET) -> bool:
        """Rescue expired leases and prune history older than `retention` (if given), in
        batches for about `prune_budget` seconds (None: to the end); the rest next time.
        True when the budget ran out with expired history left (call again soon)."""

    async def vacuum_hot_table(self, truncate: bool = True) -> bool:
        """Clean up after finished tasks now, if the backend needs it; False if skipped.
        truncate=False: leave the table's size alone (cheaper to get done under load)."""

    async def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[int]: ...

    async def cancel(self, task_id: int, reason: str | None = None) -> bool: ...

    async def retry(self, task_id: int) -> bool: ...

    async def prune(self, older_than: timedelta, batch_size: int = DEFAULT_BATCH_SIZE,
                    budget: float | None = None) -> int:
        """Forget finished tasks older than `older_than`, batch_size at a time, each batch its
        own transaction, until none is left or `budget` seconds have passed; how many."""
        ...

    # -- HTTP targets (the journal and shared rates need Capability.HTTP_JOURNAL) ---------

    async def queue_policies(self, names: Sequence[str] | None = None) -> dict[str, QueuePolicy]:
        """The dispatch policy of each queue with a target (all of them when names is None)."""

    async def attempt_history(self, task_ids: Sequence[int]) -> dict[int, tuple[int, int | None]]:
        """task id -> (attempts that got an HTTP answer, the last status) from the journal."""

    async def record_http_attempts(self, attempts: Sequence[HttpAttempt],
                                   rates: Mapping[str, float | None] | None = None
                                   ) -> datetime | None:
        """Journal the attempts and publish changed adaptive rates in one round trip; the
        database time the rates were stamped with (None when there were none)."""


class Operator(HasCapabilities, Protocol):
    """The faces' sync way in (CLI, `pgtask top`, the web app): reads and operator actions.

    Rows are plain dicts of Python values (JSON decoded, times timezone-aware)."""

    def close(self) -> None: ...

    # -- reads ---------------------------------------------------------------------------

    def list_tasks(self, *, state: str | None = None, queue: str | None = None,
                   task_type: str | None = None, after: int = 0, limit: int = 50,
                   before: int | None = None) -> list[Row]:
        """Ids above `after` ascending, or with `before` (the first page: 2**63-1) below it
        descending, newest first."""

    def errored_tasks(self, *, queue: str | None = None, before: int | None = None,
                      limit: int = 100) -> list[Row]:
        """Tasks that failed at least once, in any state, newest first (ids below `before`)."""

    def task_states(self, ids: Sequence[int]) -> dict[int, str]:
        """The state of each of `ids` that exists (to say why an action left one alone)."""

    def task_detail(self, task_id: int, log_limit: int = 1000) -> Row | None: ...

    def task_counts(self) -> list[Row]: ...

    def top_rows(self, *, since: datetime | None = None,
                 now: datetime | None = None) -> dict[str, list[Row]]:
        """The rows of one `pgtask top` frame, read in one consistent snapshot."""

    def queues(self) -> list[Row]: ...

    def task_types(self) -> list[Row]:
        """The task types workers registered, each with the live workers that run it
        (`workers`) and when one was last seen."""

    # -- actions -------------------------------------------------------------------------

    def select_ids(self, *, finished: bool, state: str | None = None, queue: str | None = None,
                   task_type: str | None = None) -> list[int]: ...

    def retry_tasks(self, ids: Sequence[int]) -> list[int]: ...

    def cancel_tasks(self, ids: Sequence[int], reason: str) -> list[int]: ...

    def delete_task(self, task_id: int) -> bool:
        """Delete a queued task; False: no such task. Refused (with why): not queued."""

    def update_task(self, task_id: int, changes: Mapping[str, Any]) -> Row | None:
        """Change a queued task's payload, priority, run_at, queue or max_attempts; None: no
        such task. Refused (with why): a bad value, or not queued."""

    def configure_queue(self, name: str, settings: Mapping[str, Any]) -> Row: ...

    def set_paused(self, name: str, paused: bool) -> bool: ...

    def running_in_queue(self, name: str) -> int:
        """How many tasks of this queue run now (queue pause --wait)."""
        ...

    def count_prunable(self, older_than: timedelta) -> int: ...

    def prune(self, older_than: timedelta, batch_size: int = DEFAULT_BATCH_SIZE,
              budget: float | None = None) -> int:
        """Store.prune, for operators (pgtask prune)."""
        ...

    def rescue(self) -> int: ...


# -- the web app (Capability.WEB) ----------------------------------------------------------


class Browser(Operator, Protocol):
    """Operator plus the reads only the web app makes (pages both ways, recent failures,
    chain links, the schema revision, the /metrics window), on one pooled connection."""

    def transaction(self) -> AbstractContextManager[None]:
        """Run the calls inside the block in one transaction (committed at its end)."""

    def enqueue_returning(self, request: EnqueueRequest) -> tuple[Row, bool]:
        """Enqueue one task: the task as all_tasks shows it, and whether this call created it
        (False: an idempotent repeat of an existing task)."""

    def task_row(self, task_id: int) -> Row | None: ...

    def list_page(self, *, state: str | None = None, queue: str | None = None,
                  task_type: str | None = None, after: int | None = None,
                  before: int | None = None, limit: int = 100) -> list[Row]:
        """Ids above `after` ascending, or below `before` (else the newest) descending."""

    def recent_failures(self, limit: int = 20) -> list[Row]: ...

    def chain(self, task: Mapping[str, Any]) -> Row:
        """{"children": the follow-ups this task enqueued, "group": its fan-in group}."""

    def schema_revision(self) -> str | None:
        """The schema revision the database is at (None: not migrated)."""

    def start_marks(self) -> Row:
        """Where /metrics starts counting: {"until": a database time, "last_id": a task id,
        "known": rows of (queue, task_type) to show at 0, "xmin": the xmin horizon row}."""

    def metrics_rows(self, since: datetime, last_id: int,
                     bounds: Sequence[float]) -> dict[str, list[Row]]:
        """What happened after `since` (and ids above `last_id`), for /metrics."""


class BrowserPool(HasCapabilities, Protocol):
    """A sync pool the web app borrows a Browser from, one per call, from any thread."""

    def session(self, timeout: float | None = None) -> AbstractContextManager[Browser]:
        """A Browser on a pooled connection; DatabaseUnavailable when none is free within
        `timeout` seconds (default: the pool's own) or the server cannot be reached."""

    def close(self) -> None: ...
