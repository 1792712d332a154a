"""PgTaskBackend: Django Tasks (django.tasks, or the django-tasks backport) on pgtask.

    TASKS = {"default": {"BACKEND": "pgtask.contrib.django.PgTaskBackend",
                         "QUEUES": ["default", "emails"],
                         "OPTIONS": {"DATABASE": "default", "MAX_ATTEMPTS": 3}}}

`task.enqueue()` writes the task on Django's own connection to DATABASES[DATABASE], so it
commits or rolls back with the caller's transaction (transaction.atomic). The task type is
the task function's module path, the payload {"args": [...], "kwargs": {...}}; priorities
scale by ten onto pgtask's -1000..1000 (higher runs first in both). `pgtask worker --django
SETTINGS` or `manage.py pgtask_worker` runs the tasks (pgtask.contrib.django.worker), sending
Django's task_started and task_finished around every attempt (pgtask.contrib.django.signals).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.core import checks  # type: ignore[import-untyped]
from django.db import connections  # type: ignore[import-untyped]
from django.utils import timezone  # type: ignore[import-untyped]
from django.utils.module_loading import import_string  # type: ignore[import-untyped]

from pgtask.contrib.django import mapping
from pgtask.contrib.django.compat import (
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskError,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
)
from pgtask.models import EnqueueRequest, validate_max_attempts, validate_name
from pgtask.store.caller import enqueue_on
from pgtask.store.postgres.django_backend import task_result_row

__all__ = ["PgTaskBackend", "unsupported_database"]

MAX_TASK_ID = 2**63 - 1  # bigint: a larger id would make Postgres abort the caller's transaction


def unsupported_database(alias: str) -> str | None:
    """Why DATABASES[alias] cannot carry pgtask's tasks, or None if it can. Told by ENGINE,
    not by the connection: that would import the engine's driver, which may be missing."""
    if alias not in settings.DATABASES:
        return f"DATABASES has no {alias!r} entry (the backend's OPTIONS['DATABASE'])"
    engine = str(settings.DATABASES[alias].get("ENGINE", ""))
    if "postgresql" in engine or "postgis" in engine:
        return None
    return (f"DATABASES[{alias!r}] has ENGINE {engine!r}: pgtask's Django backend supports "
            f"'django.db.backends.postgresql' on a database with the pgtask schema "
            f"('pgtask migrate'). Django's MySQL backend drives mysqlclient, which pgtask "
            f"does not speak: on MySQL/MariaDB, enqueue with pgtask.enqueue() on a PyMySQL "
            f"connection instead.")


class PgTaskBackend(BaseTaskBackend):
    supports_defer = True  # run_after becomes the task's run_at
    supports_async_task = True  # the worker awaits coroutine functions on its event loop
    supports_get_result = True  # from any process, on Django's connection
    supports_priority = True  # pgtask claims higher priorities first

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.database: str = self.options.get("DATABASE", "default")
        self.max_attempts = _option(validate_max_attempts, self.options.get("MAX_ATTEMPTS"))
        for queue in self.queues:
            _option(lambda name: validate_name("queue", name), queue)

    def validate_task(self, task: Task[Any, Any]) -> None:
        super().validate_task(task)
        problem = (mapping.task_type_problem(task.module_path)
                   or _name_problem("queue", task.queue_name)
                   or unsupported_database(self.database))
        if problem:
            raise InvalidTask(problem)

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any]:
        self.validate_task(task)
        result: TaskResult[Any] = TaskResult(
            task=task, id="", status=_status("queued"), enqueued_at=None,
            started_at=None, finished_at=None, last_attempted_at=None, args=list(args),
            kwargs=dict(kwargs), backend=self.alias, errors=[], worker_ids=[])
        request = EnqueueRequest(
            task_type=task.module_path, queue=task.queue_name,
            payload=mapping.task_payload(result.args, result.kwargs),  # JSON-normalised
            priority=mapping.pgtask_priority(task.priority), run_at=_aware(task.run_after),
            max_attempts=self.max_attempts)
        [task_id] = enqueue_on(connections[self.database], [request])
        # The backends Django ships set these on their frozen results in the same way.
        object.__setattr__(result, "id", str(task_id))
        object.__setattr__(result, "enqueued_at", timezone.now())
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult[Any]:
        task_id = _task_id(result_id)
        row = None if task_id is None else task_result_row(connections[self.database], task_id)
        if row is None:
            raise TaskResultDoesNotExist(result_id)
        return self._result(row)

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        problem = unsupported_database(self.database)
        if problem:
            yield checks.Error(problem, obj=f"TASKS[{self.alias!r}]", id="pgtask.E001")

    def _result(self, row: dict[str, Any]) -> TaskResult[Any]:
        args, kwargs = mapping.split_payload(row["payload"])
        errors = [TaskError(exception_class_path=path, traceback=text)
                  for path, text in mapping.error_entries(row["errors"])]
        if row["state"] == "cancelled":  # no error entry: the reason is the message
            errors.append(TaskError(exception_class_path="pgtask.errors.Cancel",
                                    traceback=row["message"] or "cancelled"))
        result: TaskResult[Any] = TaskResult(
            task=self._task(row), id=str(row["id"]),
            status=_status(row["state"]),
            enqueued_at=row["created_at"], started_at=row["started_at"],
            finished_at=row["finished_at"], last_attempted_at=row["attempted_at"],
            args=args, kwargs=kwargs, backend=self.alias, errors=errors,
            worker_ids=mapping.worker_ids(row["errors"], row["attempt"], row["worker_id"]))
        if row["state"] == "succeeded":
            object.__setattr__(result, "_return_value", row["result"])
        return result

    def _task(self, row: dict[str, Any]) -> Task[Any, Any]:
        """The Django task a row's type names, with the row's own queue, priority and (when it
        was deferred) run_at, as the task was enqueued."""
        try:
            task = import_string(row["task_type"])
        except ImportError:
            task = None
        if not isinstance(task, Task):
            raise TaskResultDoesNotExist(
                f"task {row['id']} has type {row['task_type']!r}, not a Django task here")
        deferred = row["run_at"] > row["created_at"]
        try:
            return dataclasses.replace(
                task, queue_name=row["queue"], backend=self.alias,
                priority=mapping.django_priority(row["priority"]),
                run_after=row["run_at"] if deferred else None)
        except InvalidTask:  # enqueued on a queue this backend does not list: as defined
            return task


def _status(state: str) -> TaskResultStatus:
    status: TaskResultStatus = getattr(TaskResultStatus, mapping.status_name(state))
    return status


def _task_id(result_id: object) -> int | None:
    text = str(result_id)
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_TASK_ID:
        return None
    return int(text)


def _aware(when: datetime | None) -> datetime | None:
    """run_after as an aware datetime (naive only when USE_TZ is off: Django's TIME_ZONE)."""
    if when is None or timezone.is_aware(when):
        return when
    return timezone.make_aware(when)  # type: ignore[no-any-return]


def _name_problem(kind: str, name: str) -> str | None:
    try:
        validate_name(kind, name)
    except ValueError as exc:
        return f"pgtask refuses it: {exc}"
    return None


def _option(check: Any, value: Any) -> Any:
    """A checked OPTIONS/QUEUES value, or ImproperlyConfigured saying which is wrong."""
    from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]

    try:
        return check(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"TASKS backend pgtask: {exc}") from None
