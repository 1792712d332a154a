"""Django's task_started and task_finished around every attempt the pgtask worker runs.

Each attempt sends task_started (sender: the task's backend class; task_result: the task's
result as the database has it once claimed: RUNNING, one worker id per attempt so far, the
errors of earlier attempts), runs the task function, then sends task_finished with this
attempt's outcome: SUCCESSFUL with its return value, or FAILED with its error appended.
Django's Tasks API has no retries, so a failed attempt pgtask will retry is reported FAILED
too (as Django's own backends report the one attempt they make); the next attempt sends
task_started again (task_result.attempts counts it). finished_at is the worker's clock, as
the signal goes out before the outcome is recorded; get_result() then has the database's, and
is the authority on where the task ended up. An attempt the worker stops (cancelled, lease
lost: an async task sees CancelledError) or that dies with the worker sends no task_finished.

Receivers are called with send_robust (asend_robust on the event loop, so sync receivers run
in a thread and may use the ORM): one that raises is logged (event django.receiver_failed)
and neither fails the task nor stops the others. Django's own backends use send(), where a
raising receiver fails the task; a metrics hook should not cost a payment.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import traceback
from typing import Any

from django.utils import timezone  # type: ignore[import-untyped]

from pgtask.contrib.django.compat import (
    TaskError,
    TaskResult,
    TaskResultStatus,
    task_finished,
    task_started,
)

__all__ = ["asend", "failed", "returned", "send"]

_log = logging.getLogger("pgtask.contrib.django")


def returned(started: TaskResult[Any], value: Any) -> TaskResult[Any]:
    """`started` returned `value`: SUCCESSFUL with it as JSON gives it back (as get_result
    will), or FAILED when it is no JSON, for which pgtask fails the task for good."""
    try:
        stored = json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        return failed(started, exc)
    result = dataclasses.replace(started, status=_status("SUCCESSFUL"),
                                 finished_at=timezone.now())
    object.__setattr__(result, "_return_value", stored)  # as Django's backends do
    return result


def failed(started: TaskResult[Any], exc: BaseException) -> TaskResult[Any]:
    """`started` failed this attempt with `exc`: its error follows the earlier ones."""
    error = TaskError(exception_class_path=f"{type(exc).__module__}.{type(exc).__qualname__}",
                      traceback="".join(traceback.format_exception(exc)))
    return dataclasses.replace(started, status=_status("FAILED"),
                               finished_at=timezone.now(), errors=[*started.errors, error])


def send(signal: Any, result: TaskResult[Any]) -> None:
    _report(signal, result, signal.send_robust(_sender(result), task_result=result))


async def asend(signal: Any, result: TaskResult[Any]) -> None:
    """On the event loop: sync receivers run in a thread (Django's asend_robust), so they may
    use the ORM as they would in a sync worker."""
    _report(signal, result, await signal.asend_robust(_sender(result), task_result=result))


def _sender(result: TaskResult[Any]) -> type:
    return type(result.task.get_backend())


def _report(signal: Any, result: TaskResult[Any], responses: list[tuple[Any, Any]]) -> None:
    name = "task_started" if signal is task_started else \
        "task_finished" if signal is task_finished else "signal"
    for receiver, response in responses:
        if isinstance(response, BaseException):
            # Django's dispatcher has just logged the traceback (logger django.dispatch): this
            # line names the event and the task, without repeating it.
            _log.error("%s receiver %s raised for task %s: %r (the task is unaffected)",
                       name, getattr(receiver, "__qualname__", receiver), result.id, response,
                       extra={"event": "django.receiver_failed"})


def _status(name: str) -> TaskResultStatus:
    status: TaskResultStatus = getattr(TaskResultStatus, name)  # choices: mypy sees tuples
    return status
