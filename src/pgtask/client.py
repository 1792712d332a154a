"""Enqueue tasks from Python: on your own connection (inside your transaction) or a pool.

    pgtask.enqueue(conn, "emails.send", {"to": "a@b.c"})             # psycopg, psycopg2, PyMySQL
    pgtask.enqueue(session, send_email, {"to": "a@b.c"}, delay=60)   # SQLAlchemy, a TaskDef
    ids = pgtask.enqueue_many(pool, [("emails.send", {"to": x}) for x in addresses])
    await pgtask.aenqueue(async_conn, "emails.send", {...})

The task exists exactly when the caller's transaction commits. enqueue_many sends all tasks
in one statement (parallel arrays), so 100,000 tasks are one round trip, not 100,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pgtask.chains import follow_ups, group_members
from pgtask.models import EnqueueRequest, validate_max_attempts, validate_name, validate_priority
from pgtask.registry import TaskDef, default_registry
from pgtask.telemetry import current_trace_context

TaskRef = str | TaskDef


def make_request(task: TaskRef, payload: Mapping[str, Any] | None = None, *,
                 queue: str | None = None, run_at: datetime | None = None,
                 delay: float | timedelta | None = None, priority: int | None = None,
                 idempotency_key: str | None = None, max_attempts: int | None = None,
                 target_url: str | None = None, then: Any = None,
                 on_failure: Any = None) -> EnqueueRequest:
    """Validate one task's options (defaults from its TaskDef) into an EnqueueRequest.

    A task named by its type takes the options of the TaskDef this process declared under
    that name (@pgtask.task), if any; otherwise what the caller leaves out stays None and
    the database fills it from the definition workers registered (pgtask.task_types).
    `then`: follow-up task(s) enqueued when this one succeeds (they receive its result);
    `on_failure`: when it ends dead. A task type, a TaskDef, pgtask.follow_up(...) or a list.
    """
    definition = task if isinstance(task, TaskDef) else default_registry.get(task)
    task_type = validate_name("task type", definition.name if definition else task)
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise TypeError(f"payload must be a dict (a JSON object), got {type(payload).__name__}")
    if run_at is not None and delay is not None:
        raise ValueError("give run_at or delay, not both")
    if run_at is not None and run_at.tzinfo is None:
        raise ValueError("run_at must be timezone-aware (e.g. datetime.now(UTC))")
    if isinstance(delay, (int, float)):
        delay = timedelta(seconds=delay)
    if delay is not None and delay < timedelta(0):
        raise ValueError("delay must not be negative")
    if target_url is not None and not target_url.startswith(("http://", "https://")):
        raise ValueError("target_url must start with http:// or https://")
    return EnqueueRequest(
        task_type=task_type,
        payload=dict(payload),
        queue=_queue(queue if queue is not None else (definition.queue if definition else None)),
        run_at=run_at,
        priority=_priority(priority if priority is not None
                           else (definition.priority if definition else None)),
        idempotency_key=idempotency_key,
        max_attempts=validate_max_attempts(max_attempts if max_attempts is not None
                                           else (definition.max_attempts if definition else None)),
        target_url=target_url,
        delay=delay,
        on_success=follow_ups(then),
        on_failure=follow_ups(on_failure),
        # The enqueuing span, for the worker's (None unless OpenTelemetry is in use).
        trace_context=current_trace_context(),
    )


def _queue(name: str | None) -> str | None:
    return None if name is None else validate_name("queue", name)


def _priority(value: int | None) -> int | None:
    return None if value is None else validate_priority(value)


def _requests(items: Iterable[Any]) -> list[EnqueueRequest]:
    """Accept EnqueueRequest, (task, payload) tuples, or dicts of make_request arguments."""
    out = []
    for item in items:
        if isinstance(item, EnqueueRequest):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(make_request(**item))
        else:
            out.append(make_request(*item))
    return out


def enqueue(conn: Any, task: TaskRef, payload: Mapping[str, Any] | None = None,
            **options: Any) -> int:
    """Enqueue one task on `conn` (inside its open transaction); return the task id."""
    return enqueue_many(conn, [make_request(task, payload, **options)])[0]


def enqueue_many(conn: Any, items: Iterable[Any]) -> list[int]:
    """Enqueue many tasks in one statement; return their ids in order."""
    from pgtask.store import caller  # the driver loads on first use, not on import

    return caller.enqueue_on(conn, _requests(items))


async def aenqueue(conn: Any, task: TaskRef, payload: Mapping[str, Any] | None = None,
                   **options: Any) -> int:
    """enqueue() for a psycopg AsyncConnection or AsyncConnectionPool."""
    return (await aenqueue_many(conn, [make_request(task, payload, **options)]))[0]


async def aenqueue_many(conn: Any, items: Iterable[Any]) -> list[int]:
    """enqueue_many() for a psycopg AsyncConnection or AsyncConnectionPool."""
    from pgtask.store import caller  # the driver loads on first use, not on import

    return await caller.aenqueue_on(conn, _requests(items))


def enqueue_group(conn: Any, members: Iterable[Any], then: Any) -> int:
    """Fan-in: enqueue `members` and, once the last of them has finished, `then`.

    Returns the group id. Members are (task, payload) tuples or follow_up(...) dicts.
    """
    from pgtask.store import caller  # the driver loads on first use, not on import

    return caller.enqueue_group_on(conn, group_members(members), _then(then))


async def aenqueue_group(conn: Any, members: Iterable[Any], then: Any) -> int:
    """enqueue_group() for psycopg.AsyncConnection."""
    from pgtask.store import caller  # the driver loads on first use, not on import

    return await caller.aenqueue_group_on(conn, group_members(members), _then(then))


def _then(spec: Any) -> list[dict[str, Any]]:
    then = follow_ups(spec)
    if not then:
        raise ValueError("a group needs then=: the task to enqueue when every member has finished")
    return then
