"""Pure translations between Django Tasks and pgtask: task types, priorities, payloads,
states and error entries. No Django import here, so all of it is unit-tested alone."""

from __future__ import annotations

import builtins
import re
from typing import Any

from pgtask.models import NAME_PATTERN

__all__ = ["PRIORITY_SCALE", "django_priority", "error_entries", "exception_path",
           "pgtask_priority", "split_payload", "status_name", "task_payload",
           "task_type_problem", "worker_ids"]

# Django's priorities run -100..100 and pgtask's -1000..1000, both "higher runs first":
# scaling by ten keeps Django's order and spans pgtask's whole range.
PRIORITY_SCALE = 10

# pgtask's states onto Django's four. Django has no "cancelled": a task an operator (or its
# handler, with pgtask.Cancel) gave up on has failed as far as its caller can tell.
STATUS_NAMES = {"queued": "READY", "running": "RUNNING", "succeeded": "SUCCESSFUL",
                "dead": "FAILED", "cancelled": "FAILED"}

LEASE_LOST = "pgtask.errors.LeaseExpired"  # not an exception class: nothing raised it


def task_type_problem(module_path: str) -> str | None:
    """Why a Django task's module path cannot be its pgtask task type, or None if it can.

    The task type is the module path itself, so a worker finds the task by importing it."""
    if NAME_PATTERN.fullmatch(module_path):
        return None
    return (f"pgtask names the task type after the task function's module path, "
            f"{module_path!r}, which must be 1-128 characters from a-z 0-9 _ . : - "
            f"(lowercase, starting with a letter or digit): rename the function or its "
            f"module, e.g. 'myapp.tasks.send_email'")


def pgtask_priority(priority: int) -> int:
    return int(priority) * PRIORITY_SCALE


def django_priority(priority: int) -> int:
    """pgtask's priority back on Django's scale (a task enqueued by other means may carry a
    priority between two of Django's: it is rounded toward zero, then clamped)."""
    return max(-100, min(100, int(priority / PRIORITY_SCALE)))


def task_payload(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"args": list(args), "kwargs": dict(kwargs)}


def split_payload(payload: object) -> tuple[list[Any], dict[str, Any]]:
    """(args, kwargs) from a task's payload; a payload of another shape gives nothing."""
    if not isinstance(payload, dict):
        return [], {}
    args, kwargs = payload.get("args", []), payload.get("kwargs", {})
    return (list(args) if isinstance(args, list) else [],
            dict(kwargs) if isinstance(kwargs, dict) else {})


def status_name(state: str) -> str:
    return STATUS_NAMES[state]


def exception_path(error: str) -> str:
    """The exception class path an error entry names. The worker stores 'Type: message'
    then the traceback, whose last line qualifies Type with its module unless it is a
    builtin ('myapp.tasks.Boom: message'); a multi-line message or a truncated traceback
    can hide that line, so look for Type from the end rather than trust the last line."""
    lines = [line for line in error.splitlines() if line.strip()]
    name = lines[0].split(":", 1)[0].strip() if lines else ""
    if not name.isidentifier():  # "lease expired: ...", a problem the worker reported
        return LEASE_LOST if error.startswith("lease expired") else "builtins.Exception"
    qualified = re.compile(rf"^((?:[A-Za-z_]\w*\.)*){re.escape(name)}(?::|$)")
    for line in reversed(lines[1:]):
        found = qualified.match(line)
        if found and found.group(1):
            return found.group(1) + name
    return f"builtins.{name}" if isinstance(getattr(builtins, name, None), type) else name


def error_entries(errors: object) -> list[tuple[str, str]]:
    """(exception class path, traceback) for each failed attempt, oldest first."""
    entries = []
    for entry in errors if isinstance(errors, list) else []:
        text = str(entry.get("error") or "failed") if isinstance(entry, dict) else str(entry)
        entries.append((exception_path(text), text))
    return entries


def worker_ids(errors: object, attempt: int, worker_id: str | None) -> list[str]:
    """One worker id per attempt (Django counts attempts as len(worker_ids)): the failed
    attempts' from their error entries, then the last attempt's own when it did not fail."""
    ids = [str(e.get("worker_id") or "") for e in errors if isinstance(e, dict)] \
        if isinstance(errors, list) else []
    if len(ids) < attempt:
        ids.append(worker_id or "")
    return ids
