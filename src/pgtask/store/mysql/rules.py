"""The decisions the MySQL store makes in Python, as pure functions.

Postgres makes these in PL/pgSQL (sql/postgres/pgtask.sql: backoff, claim_task,
finish_tasks, rescue_tasks); here they are computed between the statements of one
transaction, from rows it has locked and the database's clock. Keep them in step with the
SQL: the contract tests (tests/contract) run the same cases against both backends.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from pgtask.models import (
    MAX_PAYLOAD_BYTES,
    EnqueueRequest,
    Outcome,
    validate_max_attempts,
    validate_name,
    validate_priority,
)

OUTCOME_KINDS = ("succeeded", "failed", "dead", "snoozed", "released", "cancelled")
LEASE_EXPIRED = "lease expired: the worker stopped heartbeating (crashed or lost)"
_HTTP_URL = re.compile(r"^https?://")
# The bounds pgtask.check_task and pgtask.check_run_at hold on Postgres: what every reader
# can load. MySQL itself refuses JSON deeper than 100 levels, with a less helpful message.
MAX_DEPTH = 100
EARLIEST_RUN_AT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_RUN_AT_AHEAD = timedelta(days=36_525)  # 100 years


def backoff_seconds(attempt: int, min_backoff: float, max_backoff: float, max_doublings: int,
                    jitter: float, noise: float) -> float:
    """Seconds to wait after attempt `attempt` failed (pgtask.backoff in the Postgres schema).

    min_backoff doubled (attempt - 1) times, at most max_doublings times, capped at
    max_backoff, then spread by +/- jitter/2; `noise` in [0, 1) picks the point in the spread.
    """
    doublings = min(max(attempt - 1, 0), max_doublings)
    base = min(max_backoff, min_backoff * 2.0 ** doublings)
    return min(max_backoff, base * (1 + jitter * (noise - 0.5)))


def refill(tokens: float, rate: float, burst: int, elapsed: float) -> float:
    """A token bucket's tokens after `elapsed` seconds at `rate` per second, capped at burst."""
    return min(float(burst), tokens + rate * max(0.0, elapsed))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The part of a queue row that decides what a failure leads to."""

    max_attempts: int
    min_backoff: float
    max_backoff: float
    max_doublings: int
    backoff_jitter: float


@dataclass(frozen=True, slots=True)
class HeldRow:
    """A running task as the finishing transaction locked it."""

    id: int
    queue: str
    attempt: int
    max_attempts: int | None
    worker_id: str | None


@dataclass(frozen=True, slots=True)
class Transition:
    """Where a task goes next: a finished state (to history) or back to 'queued'."""

    id: int
    state: str
    run_at: datetime | None = None   # queued only
    refund: int = 0                  # 1: the attempt does not count (snoozed, released)
    entry: dict[str, Any] | None = None  # appended to the task's errors
    result: Any = None
    message: str | None = None

    def doc(self) -> dict[str, Any]:
        """This transition as a row of the TRANSITIONS JSON_TABLE (absent keys read as NULL)."""
        row: dict[str, Any] = {"id": self.id, "state": self.state, "refund": self.refund}
        if self.run_at is not None:
            row["run_at"] = sql_time(self.run_at)
        if self.entry is not None:
            row["entry"] = json.dumps(self.entry)
        if self.result is not None:
            row["result"] = json.dumps(self.result)
        if self.message is not None:
            row["message"] = self.message
        return row


def sql_time(moment: datetime) -> str:
    """A DATETIME(6) literal in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ", timespec="microseconds")


@overload
def utc(moment: datetime) -> datetime: ...


@overload
def utc(moment: None) -> None: ...


def utc(moment: datetime | None) -> datetime | None:
    """A DATETIME read back from MySQL (naive UTC) as an aware datetime."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def error_entry(row: HeldRow, now: datetime, error: str) -> dict[str, Any]:
    """One element of a task's "errors" array, shaped like Postgres's jsonb_build_object."""
    return {"attempt": row.attempt, "at": utc(now).isoformat(), "worker_id": row.worker_id,
            "error": error}


def check_outcome(outcome: Outcome) -> None:
    if outcome.kind not in OUTCOME_KINDS:
        raise ValueError("pgtask: outcomes must be succeeded, failed, dead, snoozed, released "
                         "or cancelled")


def resolve_outcome(outcome: Outcome, row: HeldRow, policy: RetryPolicy | None, now: datetime,
                    noise: float) -> Transition:
    """What `outcome` does to the task in `row` (finish_tasks in the Postgres schema)."""
    kind = outcome.kind
    if kind == "succeeded":
        return Transition(row.id, "succeeded", result=outcome.result)
    if kind in ("snoozed", "released"):
        wait = outcome.delay or timedelta(0)
        return Transition(row.id, "queued", run_at=now + wait, refund=1)
    if kind == "cancelled":  # the handler's pgtask.Cancel: a reason, no errors entry
        return Transition(row.id, "cancelled", message=outcome.error or "cancelled")
    error = outcome.error or "failed"
    entry = error_entry(row, now, error)
    if kind == "dead":
        return Transition(row.id, "dead", entry=entry, message=error)
    assert policy is not None, "queue rows are never deleted"
    if row.attempt >= (row.max_attempts or policy.max_attempts):
        return Transition(row.id, "dead", entry=entry, message=error)
    if outcome.delay is not None:
        wait = outcome.delay
    else:
        wait = timedelta(seconds=backoff_seconds(
            row.attempt, policy.min_backoff, policy.max_backoff, policy.max_doublings,
            policy.backoff_jitter, noise))
    return Transition(row.id, "queued", run_at=now + wait, entry=entry)


def resolve_rescue(row: HeldRow, queue_max_attempts: int, now: datetime) -> Transition:
    """A task whose lease ran out: back to its queue now, or dead if that was its last attempt."""
    entry = error_entry(row, now, LEASE_EXPIRED)
    if row.attempt >= (row.max_attempts or queue_max_attempts):
        return Transition(row.id, "dead", entry=entry, message=LEASE_EXPIRED)
    return Transition(row.id, "queued", run_at=now, entry=entry)


def json_depth(value: object) -> int:
    """Levels of nesting as MySQL counts them: a scalar or an empty container is 1."""
    deepest, stack = 0, [(value, 1)]
    while stack:  # no recursion: the value may be deeper than Python's stack
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else (
            item if isinstance(item, list | tuple) else ())
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_timing(request: EnqueueRequest, now: datetime) -> None:
    """Refuse a start time no reader can show or compute with (see pgtask.check_run_at).

    The upper bound is checked against `now`, the enqueuing host's clock: MySQL has no
    function that enqueues, so this runs before the INSERT.
    """
    latest = now + LATEST_RUN_AT_AHEAD
    if request.run_at is not None and not EARLIEST_RUN_AT <= utc(request.run_at) <= latest:
        raise ValueError(f"pgtask: run_at {request.run_at.isoformat()} is out of range "
                         "(1970-01-01 to 100 years from now)")
    if request.delay is not None and abs(request.delay) > LATEST_RUN_AT_AHEAD:
        raise ValueError("pgtask: delay must be at most 100 years")


def payload_json(request: EnqueueRequest) -> str:
    """Validate one request the way pgtask.check_task does, and return its payload as JSON."""
    if request.on_success or request.on_failure:
        raise ValueError("pgtask: follow-up tasks (on_success / on_failure) are not supported "
                         "on MySQL yet; enqueue the next task from the handler instead")
    validate_name("task type", request.task_type)
    if request.queue is not None:  # None: the task type's (task_types.with_type_defaults)
        validate_name("queue name", request.queue)
    payload: object = request.payload  # typed a dict, but callers pass what they have
    if not isinstance(payload, dict):
        got = "array" if isinstance(payload, list | tuple) else type(payload).__name__
        raise ValueError(f"pgtask: payload must be a JSON object, got {got}")
    if json_depth(payload) > MAX_DEPTH:  # before json.dumps, which recursion would stop
        raise ValueError("pgtask: payload is nested more than 100 levels deep")
    text = json.dumps(request.payload)  # ", " and ": " like jsonb's text, which Postgres measures
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"pgtask: payload is {len(text.encode())} bytes; the limit is "
                         f"{MAX_PAYLOAD_BYTES} bytes (1 MiB). Store large data elsewhere and "
                         "pass a reference.")
    check_timing(request, datetime.now(UTC))
    if request.priority is not None:
        validate_priority(request.priority)
    validate_max_attempts(request.max_attempts)
    key = request.idempotency_key
    if key is not None and not (isinstance(key, str) and 1 <= len(key) <= 255):
        raise ValueError("pgtask: idempotency_key must be 1 to 255 characters")
    if request.target_url is not None and not _HTTP_URL.match(str(request.target_url)):
        raise ValueError("pgtask: target_url must start with http:// or https://")
    return text

