"""Run Django tasks on pgtask's own worker: each Django task whose backend is a
PgTaskBackend becomes a pgtask handler of its module path, in the worker's registry.

The worker itself is unchanged: sync task functions run in its handler threads, async ones
on its event loop. Around each run, Django's connections are closed when unusable or past
CONN_MAX_AGE (close_old_connections), as Django does around each request. Each attempt
reads the task's running result once (get_result: the same read a takes_context task's
context needs) and sends Django's task_started / task_finished with it (signals.py).
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from pgtask.config import DSN_ENV
from pgtask.contrib.django import mapping
from pgtask.registry import Registry, default_registry
from pgtask.worker.context import TaskContext as PgTaskContext

__all__ = ["django_tasks", "handler_for", "prepare", "register_tasks", "setup"]


def setup(settings_module: str, registry: Registry = default_registry) -> Registry:
    """Configure Django from `settings_module` (importable from the current directory), then
    give its pgtask-backed tasks to `registry` (what `pgtask worker --django` does)."""
    if os.getcwd() not in sys.path:  # console scripts do not put the cwd on sys.path
        sys.path.insert(0, os.getcwd())
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django  # type: ignore[import-untyped]

    django.setup()
    return prepare(registry)


def prepare(registry: Registry = default_registry) -> Registry:
    """With Django set up: register its pgtask tasks, and let the worker connect where the
    backend enqueues (DATABASES[OPTIONS['DATABASE']]) unless $PGTASK_DSN or --dsn says."""
    from pgtask.store.postgres.django_backend import conninfo

    backends = _pgtask_backends()
    if backends and not os.environ.get(DSN_ENV):
        from django.conf import settings  # type: ignore[import-untyped]

        # The worker's children (--processes) inherit it; it is never logged unredacted.
        os.environ[DSN_ENV] = conninfo(settings.DATABASES[backends[0].database])
    return register_tasks(django_tasks(), registry)


def django_tasks() -> list[Any]:
    """The Django tasks on a PgTaskBackend in each installed app's `tasks` module and in the
    modules listed in a backend's OPTIONS['TASK_MODULES']."""
    from django.utils.module_loading import autodiscover_modules  # type: ignore[import-untyped]

    from pgtask.contrib.django.compat import Task

    autodiscover_modules("tasks")
    extra = [m for b in _pgtask_backends() for m in b.options.get("TASK_MODULES", [])]
    modules = [sys.modules[name] for name in sorted(sys.modules)
               if name == "tasks" or name.endswith(".tasks")]
    found: dict[str, Any] = {}
    for module in [*modules, *_import(extra)]:
        for value in vars(module).values():
            if isinstance(value, Task) and _on_pgtask(value):
                found.setdefault(value.module_path, value)
    return [found[path] for path in sorted(found)]


def register_tasks(tasks: Iterable[Any], registry: Registry = default_registry) -> Registry:
    """Add a handler to `registry` for each Django task (the backend validated their names)."""
    for task in tasks:
        doc = inspect.getdoc(task.func) or ""
        registry.task(task.module_path, queue=task.queue_name,
                      priority=mapping.pgtask_priority(task.priority),
                      title=doc.splitlines()[0] if doc else task.name,
                      description=doc)(handler_for(task))
    return registry


def handler_for(task: Any) -> Callable[[PgTaskContext], Any]:
    """A pgtask handler that calls the Django task with the task's args and kwargs, between
    Django's task_started and task_finished signals (pgtask.contrib.django.signals)."""
    from pgtask.contrib.django import signals
    from pgtask.contrib.django.compat import task_finished, task_started

    if inspect.iscoroutinefunction(task.func):
        async def run_async(ctx: PgTaskContext) -> Any:
            from asgiref.sync import sync_to_async
            from django.db import close_old_connections  # type: ignore[import-untyped]

            await sync_to_async(close_old_connections)()
            try:
                args, kwargs = mapping.split_payload(ctx.payload)
                # The running result, read once: the signals' and the context's.
                started = await task.get_backend().aget_result(str(ctx.id))
                if task.takes_context:
                    args = [_context(started), *args]
                await signals.asend(task_started, started)
                try:
                    value = await task.func(*args, **kwargs)
                except Exception as exc:
                    await signals.asend(task_finished, signals.failed(started, exc))
                    raise
                await signals.asend(task_finished, signals.returned(started, value))
                return value
            finally:
                await sync_to_async(close_old_connections)()

        return run_async

    def run(ctx: PgTaskContext) -> Any:
        from django.db import close_old_connections

        close_old_connections()
        try:
            args, kwargs = mapping.split_payload(ctx.payload)
            started = task.get_backend().get_result(str(ctx.id))
            if task.takes_context:
                args = [_context(started), *args]
            signals.send(task_started, started)
            try:
                value = task.call(*args, **kwargs)
            except Exception as exc:
                signals.send(task_finished, signals.failed(started, exc))
                raise
            signals.send(task_finished, signals.returned(started, value))
            return value
        finally:
            close_old_connections()

    return run


def _context(result: Any) -> Any:
    """Django's TaskContext: the task's result as the database has it now (running, with a
    worker id per attempt so far, so context.attempt counts this one)."""
    from pgtask.contrib.django.compat import TaskContext

    return TaskContext(task_result=result)


def _pgtask_backends() -> list[Any]:
    from pgtask.contrib.django.backend import PgTaskBackend
    from pgtask.contrib.django.compat import task_backends

    return [b for b in task_backends.all() if isinstance(b, PgTaskBackend)]


def _on_pgtask(task: Any) -> bool:
    from pgtask.contrib.django.backend import PgTaskBackend

    try:
        return isinstance(task.get_backend(), PgTaskBackend)
    except Exception:  # a task naming a backend the settings lack: not ours to run
        return False


def _import(names: Iterable[str]) -> list[ModuleType]:
    import importlib

    return [importlib.import_module(name) for name in names]
