"""Every shape that crosses a wall: task states and names, what is enqueued, claimed and
finished, worker rows, and HTTP delivery policies and attempts (pure: no I/O, no driver)."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,127}$")
PRIORITY_RANGE = (-1000, 1000)
MAX_ATTEMPTS_RANGE = (1, 1000)
MAX_PAYLOAD_BYTES = 1024 * 1024


class Backend(enum.StrEnum):
    """The kind of database behind a DSN (pgtask.config.backend_of)."""

    POSTGRES = "postgres"
    MYSQL = "mysql"

    @property
    def label(self) -> str:
        return {"postgres": "PostgreSQL", "mysql": "MySQL/MariaDB"}[self.value]


class TaskState(enum.StrEnum):
    """Mirrors the SQL enum pgtask.task_state (a test keeps them equal)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.DEAD, TaskState.CANCELLED)


# Names already seen valid: a bulk enqueue repeats a handful of them, and the regex was
# ~0.8 us of the ~2.2 us per task that building 20,000 requests cost.
_VALID_NAMES: set[str] = set()


def validate_name(kind: str, name: object) -> str:
    """Return `name` if it may name a queue or task type; else raise ValueError saying why."""
    if isinstance(name, str) and name in _VALID_NAMES:
        return name
    # fullmatch: with match(), "$" would also accept a trailing newline that SQL refuses.
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"invalid {kind} {name!r}: use 1-128 characters from a-z 0-9 _ . : -, "
            f"starting with a letter or digit (e.g. 'emails.send')"
        )
    if len(_VALID_NAMES) < 10_000:  # bounded: names are few, but callers could mint many
        _VALID_NAMES.add(name)
    return name


def validate_priority(priority: object) -> int:
    low, high = PRIORITY_RANGE
    if not isinstance(priority, int) or isinstance(priority, bool) or not low <= priority <= high:
        raise ValueError(f"priority must be an integer from {low} to {high} (higher runs first)")
    return priority


def validate_max_attempts(max_attempts: object) -> int | None:
    if max_attempts is None:
        return None
    low, high = MAX_ATTEMPTS_RANGE
    if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or not (
        low <= max_attempts <= high
    ):
        raise ValueError(f"max_attempts must be an integer from {low} to {high}")
    return max_attempts


@dataclass(slots=True)
class TaskRecord:
    """A task as inspection sees it (unfinished or finished)."""

    id: int
    queue: str
    task_type: str
    state: TaskState
    payload: dict[str, Any]
    priority: int = 0
    attempt: int = 0
    max_attempts: int | None = None
    run_at: datetime | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    attempted_at: datetime | None = None
    finished_at: datetime | None = None
    idempotency_key: str | None = None
    target_url: str | None = None
    worker_id: str | None = None
    result: Any = None
    message: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


OutcomeKind = Literal["succeeded", "failed", "dead", "snoozed", "released", "cancelled"]


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
    lease: timedelta = timedelta(seconds=30)  # its queue's: the heartbeat renews within a third
    # The enqueuer's W3C trace context, as stored: untrusted (any enqueuer writes the row),
    # read only by pgtask.telemetry, which tolerates anything here.
    trace_context: Any = None


@dataclass(slots=True)
class Outcome:
    """What became of a claimed task; flushed in batches by the runner."""

    id: int
    lease_token: UUID
    kind: OutcomeKind
    result: Any = None
    error: str | None = None
    delay: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    """What a flush of outcomes came to."""

    applied: set[int]  # ids whose outcome was recorded: the lease was still held
    # Seconds until the earliest task this flush requeued (retry, snooze) falls due; None
    # when none was. A requeue sends no NOTIFY, so the runner wakes itself for it.
    next_due_in: float | None = None


@dataclass(frozen=True, slots=True)
class ClaimWait:
    """Why a short claim came back short, when a queue's limit held ready work back."""

    next_token_in: float | None = None  # seconds until a rate-limited queue earns a token
    slots_full: bool = False  # a concurrency-limited queue with ready work has no free slot
    limited: bool = True  # some queue asked about has a limit at all (False: ask less often)


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
    """One task to enqueue; None fields take the database defaults (queue, priority and
    max_attempts: the task type's definition in pgtask.task_types, then 'default', 0 and
    the queue's)."""

    task_type: str
    payload: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    run_at: datetime | None = None
    priority: int | None = None
    idempotency_key: str | None = None
    max_attempts: int | None = None
    target_url: str | None = None
    delay: timedelta | None = None  # run_at = database now() + delay (when run_at is None)
    # Follow-up tasks (lists of pgtask.chains.follow_up objects): enqueued when this one
    # succeeds (given its result), or when it ends dead.
    on_success: list[dict[str, Any]] | None = None
    on_failure: list[dict[str, Any]] | None = None
    # The enqueuing span's W3C trace context (traceparent, tracestate); make_request fills
    # it when OpenTelemetry is in use (pgtask.telemetry).
    trace_context: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Backoff:
    """The queue's retry policy, as the SQL backoff computes it (without the jitter)."""

    min_backoff: float = 1.0
    max_backoff: float = 3600.0
    max_doublings: int = 20

    def after(self, attempt: int) -> float:
        doublings = min(max(attempt - 1, 0), self.max_doublings)
        return min(self.max_backoff, self.min_backoff * 2.0 ** doublings)


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """A queue's delivery settings, read from pgtask.queues (see store/postgres/http.py).

    concurrency_limit and rate_limit/rate_burst are enforced globally by claim_task; the
    dispatcher uses rate_limit as the ceiling of its adaptive rate. dispatch_rate is the
    adaptive rate last published by any worker (tasks/s for the whole queue; None: not
    throttled), and workers the number of live workers serving the queue.
    """

    name: str
    target_url: str | None = None
    dispatch_deadline: float = 30.0
    concurrency_limit: int | None = None
    rate_limit: float | None = None
    rate_burst: int = 1
    max_attempts: int = 20
    backoff: Backoff = Backoff()
    dispatch_rate: float | None = None
    dispatch_rate_at: datetime | None = None
    workers: int = 1


@dataclass(slots=True)
class HttpAttempt:
    """One row of pgtask.http_attempts: what one HTTP attempt of a task came to."""

    task_id: int
    attempt: int
    started: float              # time.monotonic() when the request went out
    status: int | None          # None: no response (timeout, connection error, refused)
    latency_ms: float
    reason: str                 # "http 503", "timeout", "refused by target policy", ...
    response: str | None = None  # the start of the response body


@dataclass(frozen=True, slots=True)
class DueSchedule:
    """A schedule row the scheduler must look at now, with the database's `now`."""

    now: datetime
    name: str
    cron: str | None
    every: timedelta | None
    time_zone: str
    catch_up: int
    grace: timedelta
    anchor_at: datetime
    next_fire_at: datetime | None
    updated_at: datetime
