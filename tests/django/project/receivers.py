"""Receivers of Django's task signals for the tests: with $PGTASK_TEST_DJANGO_SIGNALS set,
each task_started / task_finished the worker sends is appended to that file as a JSON line,
and a second receiver raises every time (the task must not notice)."""

import json
import os
import threading

try:
    from django.tasks.signals import task_finished, task_started
except ImportError:
    from django_tasks.signals import task_finished, task_started

SIGNALS_ENV = "PGTASK_TEST_DJANGO_SIGNALS"
_lock = threading.Lock()  # handler threads send at once: one whole line each


def _record(signal_name):
    def record(sender, task_result, **kwargs):
        line = {"signal": signal_name, "sender": f"{sender.__module__}.{sender.__qualname__}",
                "id": task_result.id, "status": task_result.status.value,
                "attempts": task_result.attempts, "worker_ids": task_result.worker_ids,
                "errors": [e.exception_class_path for e in task_result.errors],
                "started": task_result.started_at is not None,
                "finished": task_result.finished_at is not None,
                "api": type(task_result).__module__}
        if task_result.status.value == "SUCCESSFUL":
            line["return_value"] = task_result.return_value
        with _lock, open(os.environ[SIGNALS_ENV], "a") as out:
            out.write(json.dumps(line) + "\n")

    return record


def explode(sender, task_result, **kwargs):
    raise RuntimeError(f"receiver boom for task {task_result.id}")


_receivers = {"started": _record("started"), "finished": _record("finished")}


def connect():
    if not os.environ.get(SIGNALS_ENV):
        return
    task_started.connect(_receivers["started"], dispatch_uid="pgtask-test-started")
    task_finished.connect(_receivers["finished"], dispatch_uid="pgtask-test-finished")
    task_started.connect(explode, dispatch_uid="pgtask-test-explode-started")
    task_finished.connect(explode, dispatch_uid="pgtask-test-explode-finished")
