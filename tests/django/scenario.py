"""The Django side of tests/django, run in a subprocess (`python -m tests.django.scenario
NAME`) so each test configures Django for its own database, under any Django version:
prints one JSON object describing what it saw.

    enqueue   rollback -> nothing; commit -> READY; options: priority, run_after, queue
    ordered   three priorities, and a task on another queue
    wait IDS  poll get_result until each id is finished (or the deadline): their results
    invalid   what validate_task says to tasks pgtask cannot take
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django.project.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from shop import tasks  # noqa: E402
from shop.views import place_order  # noqa: E402

import pgtask  # noqa: E402
from pgtask.contrib.django.compat import (  # noqa: E402
    InvalidTask,
    TaskResultDoesNotExist,
    task_backends,
)
from tests.django.project import tasks as project_tasks  # noqa: E402


class Rollback(Exception):
    pass


def describe(result: Any) -> dict[str, Any]:
    out = {"id": result.id, "status": str(result.status.value), "task": result.task.module_path,
           "queue": result.task.queue_name, "priority": result.task.priority,
           "run_after": result.task.run_after and result.task.run_after.isoformat(),
           "args": result.args, "kwargs": result.kwargs, "attempts": result.attempts,
           "worker_ids": result.worker_ids, "backend": result.backend,
           "errors": [{"exception_class_path": e.exception_class_path,
                       "traceback": e.traceback} for e in result.errors],
           "enqueued_at": result.enqueued_at and result.enqueued_at.isoformat(),
           "started_at": result.started_at and result.started_at.isoformat(),
           "finished_at": result.finished_at and result.finished_at.isoformat(),
           "last_attempted_at": result.last_attempted_at
           and result.last_attempted_at.isoformat(), "django": django.__version__,
           "api": type(result).__module__}
    if result.status.value == "SUCCESSFUL":
        out["return_value"] = result.return_value
    return out


def enqueue() -> dict[str, Any]:
    rolled_back = None
    try:
        with transaction.atomic():
            rolled_back = tasks.add.enqueue(1, 2, ).id  # the row exists in this transaction
            seen_inside = describe(task_backends["default"].get_result(rolled_back))["status"]
            raise Rollback
    except Rollback:
        pass
    try:
        task_backends["default"].get_result(rolled_back)
        after_rollback = "found"
    except TaskResultDoesNotExist:
        after_rollback = "does not exist"
    with transaction.atomic():
        added = tasks.add.enqueue(2, 3)
        # pgtask's own client on Django's connection proxy: same transaction, same path.
        plain = pgtask.enqueue(connection, "shop.tasks.add", {"args": [20, 22]})
    later = timezone.now() + timedelta(hours=1)
    return {
        "rolled_back": rolled_back, "seen_inside": seen_inside, "after_rollback": after_rollback,
        "in_atomic_block": connection.in_atomic_block,
        "added": describe(added), "plain": str(plain),
        "added_read": describe(tasks.add.get_result(added.id)),
        "receipt": place_order(7, "a@example.com"),
        "failing": tasks.charge_card.enqueue(7).id,
        "flaky": tasks.flaky.enqueue(order_id=8).id,
        "async": tasks.notify.enqueue(9).id,
        "not_json": project_tasks.not_json.enqueue().id,
        "aenqueued": asyncio.run(tasks.add.aenqueue(5, 5)).id,
        "aget": describe(asyncio.run(tasks.add.aget_result(added.id)))["status"],
        "urgent": describe(tasks.add.using(priority=-100).enqueue(0, 0)),
        "deferred": describe(tasks.add.using(run_after=later, queue_name="emails")
                             .enqueue(4, 5)),
    }


def ordered() -> dict[str, Any]:
    """Three tasks enqueued lowest priority first, and one on a queue the worker skips."""
    return {"low": tasks.add.using(priority=-100).enqueue(1, 0).id,
            "mid": tasks.add.enqueue(2, 0).id,
            "high": tasks.add.using(priority=100).enqueue(3, 0).id,
            "emails": tasks.send_receipt.enqueue(1, to="b@example.com").id,
            "pids": [project_tasks.backend_pid.enqueue().id for _ in range(2)],
            "running": project_tasks.seen_running.enqueue().id,
            "async_pid": project_tasks.async_pid.enqueue().id,
            "async_sync_orm": project_tasks.async_sync_orm.enqueue().id}


def wait(ids: list[str], timeout: float) -> dict[str, Any]:
    backend = task_backends["default"]
    deadline = time.monotonic() + timeout
    results = {i: backend.get_result(i) for i in ids}
    while time.monotonic() < deadline and not all(r.is_finished for r in results.values()):
        time.sleep(0.05)
        for r in results.values():
            if not r.is_finished:
                r.refresh()
    return {i: describe(r) for i, r in results.items()}


def _refusal(make: Any) -> str:
    try:
        make()
    except InvalidTask as exc:
        return f"{type(exc).__name__}: {exc}"
    return "accepted"


def invalid() -> dict[str, Any]:
    from django.core.exceptions import ImproperlyConfigured

    from pgtask.contrib.django.backend import PgTaskBackend
    from pgtask.contrib.django.compat import Task
    from tests.django.project import badnames

    try:
        PgTaskBackend("bad", {"QUEUES": ["Bad Queue"]})
        bad_queues = "accepted"
    except ImproperlyConfigured as exc:
        bad_queues = str(exc)
    # A task of another type (not a Django task) is no result of this backend's.
    foreign = str(pgtask.enqueue(connection, "other.thing", {"x": 1}))
    cancelled = str(pgtask.enqueue(connection, "shop.tasks.add", {"args": [1, 1]}))
    with connection.cursor() as cur:
        cur.execute("select pgtask.cancel_task(%s, 'not wanted')", [int(cancelled)])
    unknown = []
    for result_id in ("999999", "x1", "99999999999999999999", foreign):
        try:
            task_backends["default"].get_result(result_id)
        except TaskResultDoesNotExist:
            unknown.append(result_id)
    return {
        "capital": _refusal(lambda: Task(func=badnames.SendEmail)),
        "queue_name": _refusal(lambda: Task(func=badnames.fine, backend="anyqueue",
                                            queue_name="Bad Queue")),
        "unlisted_queue": _refusal(lambda: Task(func=badnames.fine, queue_name="other")),
        "naive_run_after": _refusal(lambda: Task(func=badnames.fine,
                                                 run_after=timezone.now().replace(tzinfo=None))),
        "mysql": _refusal(lambda: Task(func=badnames.fine, backend="onmysql")),
        "fine": _refusal(lambda: Task(func=badnames.fine)),
        "bad_queues": bad_queues, "unknown_ids": unknown, "foreign": foreign,
        "cancelled": describe(task_backends["default"].get_result(cancelled)),
    }


def main(argv: list[str]) -> None:
    if argv[0] == "enqueue":
        out = enqueue()
    elif argv[0] == "ordered":
        out = ordered()
    elif argv[0] == "wait":
        out = wait(argv[2:], float(argv[1]))
    else:
        out = invalid()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
