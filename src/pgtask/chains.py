"""Chains and fan-in: tasks the database enqueues when other tasks finish.

    enqueue(conn, "images.resize", {"id": 7}, then=follow_up("images.publish"))
    enqueue(conn, "reports.build", {}, then="reports.mail", on_failure="alerts.page")
    enqueue_group_on(conn, [("images.resize", {"id": i}) for i in ids], then="albums.zip")

A follow-up is enqueued by the same statement that finishes its predecessor, so it exists
exactly when that finish commits: never lost, never twice. On success its payload gains
{"parent_id", "parent_result"}; an on_failure task (the predecessor ended dead) gains
{"parent_id", "parent_error"}; a group's follow-up gains {"group_id", "succeeded", "dead",
"cancelled"} once its last member has finished. A cancelled task's chain stops.
These helpers only build and check the JSON the SQL takes (see pgtask.check_follow_ups).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pgtask.models import validate_max_attempts, validate_name, validate_priority

FIELDS = ("task_type", "payload", "queue", "priority", "max_attempts", "target_url", "delay",
          "on_success", "on_failure")


def follow_up(task: Any, payload: Mapping[str, Any] | None = None, *, queue: str | None = None,
              priority: int | None = None, max_attempts: int | None = None,
              target_url: str | None = None, delay: float | timedelta | str | None = None,
              then: Any = None, on_failure: Any = None) -> dict[str, Any]:
    """One follow-up task, as the JSON object the SQL takes. `task` is a task type or a
    TaskDef (whose queue, priority and max_attempts are the defaults); `delay` is seconds,
    a timedelta or a Postgres interval ('5 minutes'); `then` and `on_failure` chain further."""
    name = getattr(task, "name", task)
    spec: dict[str, Any] = {"task_type": validate_name("task type", name)}
    if payload is not None:
        if not isinstance(payload, Mapping):
            raise TypeError(f"payload must be a dict (a JSON object), got {type(payload).__name__}")
        spec["payload"] = dict(payload)
    queue = queue if queue is not None else getattr(task, "queue", None)
    if queue is not None:
        spec["queue"] = validate_name("queue", queue)
    priority = priority if priority is not None else getattr(task, "priority", None)
    if priority:
        spec["priority"] = validate_priority(priority)
    max_attempts = max_attempts if max_attempts is not None else getattr(task, "max_attempts", None)
    if max_attempts is not None:
        spec["max_attempts"] = validate_max_attempts(max_attempts)
    if target_url is not None:
        if not target_url.startswith(("http://", "https://")):
            raise ValueError("target_url must start with http:// or https://")
        spec["target_url"] = target_url
    if isinstance(delay, str):
        spec["delay"] = delay  # checked by the database, which parses intervals
    elif delay is not None:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        if seconds < 0:
            raise ValueError("delay must not be negative")
        spec["delay"] = f"{seconds} seconds"
    for key, value in (("on_success", follow_ups(then)), ("on_failure", follow_ups(on_failure))):
        if value:
            spec[key] = value
    return spec


def follow_ups(spec: Any) -> list[dict[str, Any]] | None:
    """Normalise what `then=` / `on_failure=` accept into a list of follow-up objects:
    None, a task type or TaskDef, a follow_up(...) dict, or a list of any of these."""
    if spec is None:
        return None
    if isinstance(spec, (list, tuple)):
        out = [item for part in spec for item in (follow_ups(part) or [])]
        return out or None
    if isinstance(spec, Mapping):
        unknown = set(spec) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown follow-up field(s) {sorted(unknown)}: "
                             f"use {', '.join(FIELDS)}")
        if "task_type" not in spec:
            raise ValueError("a follow-up needs a task_type")
        options = {k: v for k, v in spec.items() if k not in ("task_type", "payload", "on_success")}
        return [follow_up(spec["task_type"], spec.get("payload"), then=spec.get("on_success"),
                          **options)]
    return [follow_up(spec)]


def group_members(items: Any) -> list[dict[str, Any]]:
    """The members of a fan-in group: task types, (task, payload) pairs, or follow_up dicts."""
    members = []
    for item in items:
        if isinstance(item, tuple):
            members.append(follow_up(*item))
        else:
            members += follow_ups(item) or []
    return members
