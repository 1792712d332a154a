"""The shapes HTTP delivery works with: a queue's dispatch policy, one attempt's journal
entry, and the dispatch result the runner turns into an Outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pgtask.store.base import ClaimedTask, Outcome
from pgtask.worker.http.outcome import Backoff

DispatchKind = Literal["succeeded", "failed", "dead", "snoozed"]


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """A queue's delivery settings, read from pgtask.queues (see store/http_pg.py).

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


@dataclass(slots=True)
class Dispatch:
    """What the runner records for a task after dispatching it."""

    kind: DispatchKind
    result: Any = None
    error: str | None = None
    delay: timedelta | None = None
    attempt: HttpAttempt | None = None  # None when no request was made (snoozed)

    def outcome(self, task: ClaimedTask) -> Outcome:
        return Outcome(task.id, task.lease_token, self.kind, self.result, self.error, self.delay)
