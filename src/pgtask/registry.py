"""Task definitions: @task("emails.send", ...) maps a task type to its handler and options."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pgtask.models import validate_max_attempts, validate_name, validate_priority

ErrorHook = Callable[[Any, BaseException], Any]


@dataclass(frozen=True, slots=True)
class TaskDef:
    """One task type: its handler and the defaults its enqueues and runs use."""

    name: str
    handler: Callable[..., Any]
    queue: str = "default"
    max_attempts: int | None = None
    timeout: float | None = None  # seconds; the run is cancelled and failed after this
    priority: int = 0
    title: str = ""
    description: str = ""
    is_async: bool = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calling a task definition calls its handler directly (handy in tests)."""
        return self.handler(*args, **kwargs)


@dataclass
class Registry:
    """The task types a worker can run, and the hooks it calls when one fails."""

    tasks: dict[str, TaskDef] = field(default_factory=dict)
    error_hooks: list[ErrorHook] = field(default_factory=list)
    schedules: list[Any] = field(default_factory=list)  # ScheduleDef, declared by workers

    def task(self, name: str, *, queue: str = "default", max_attempts: int | None = None,
             timeout: float | None = None, priority: int = 0, title: str = "",
             description: str = "", cron: str | None = None, every: Any = None,
             time_zone: str = "UTC", catch_up: int = 0) -> Callable[[Callable[..., Any]], TaskDef]:
        """Register the decorated function (sync or async) as the handler of `name`.

        With `cron` ("*/5 * * * *", "@hourly") or `every` (seconds or a timedelta), workers
        also enqueue it on that schedule (a schedule named like the task).
        """
        if cron is not None or every is not None:
            self.schedule(name, name, cron=cron, every=every, time_zone=time_zone,
                          queue=queue, priority=priority, max_attempts=max_attempts,
                          catch_up=catch_up)
        validate_name("task type", name)
        validate_name("queue", queue)
        validate_max_attempts(max_attempts)
        validate_priority(priority)
        if timeout is not None and timeout <= 0:
            raise ValueError(f"task {name!r}: timeout must be positive seconds")

        def decorate(func: Callable[..., Any]) -> TaskDef:
            if name in self.tasks and self.tasks[name].handler is not func:
                raise ValueError(f"task type {name!r} is already registered "
                                 f"by {self.tasks[name].handler.__qualname__}")
            doc = inspect.getdoc(func) or ""
            definition = TaskDef(
                name=name, handler=func, queue=queue, max_attempts=max_attempts,
                timeout=timeout, priority=priority,
                title=title or (doc.splitlines()[0] if doc else ""),
                description=description or doc,
                is_async=inspect.iscoroutinefunction(func),
            )
            self.tasks[name] = definition
            return definition

        return decorate

    def schedule(self, name: str, task: str | TaskDef, **options: Any) -> Any:
        """Enqueue `task` on a schedule (cron=..., every=..., time_zone, payload, queue,
        priority, max_attempts, catch_up, grace); workers declare it when they start."""
        from pgtask.schedules.definition import ScheduleDef

        definition = ScheduleDef(name, task.name if isinstance(task, TaskDef) else task, **options)
        self.schedules = [s for s in self.schedules if s.name != name] + [definition]
        return definition

    def on_error(self, hook: ErrorHook) -> ErrorHook:
        """Register hook(task, exception), called whenever a handler fails (for monitoring)."""
        self.error_hooks.append(hook)
        return hook

    def get(self, name: str) -> TaskDef | None:
        return self.tasks.get(name)

    def names(self) -> list[str]:
        return sorted(self.tasks)

    def definitions(self) -> list[dict[str, Any]]:
        """The task types as workers record them in the database (pgtask.task_types)."""
        return [{"name": d.name, "queue": d.queue, "priority": d.priority,
                 "max_attempts": d.max_attempts, "timeout_seconds": d.timeout,
                 "title": d.title[:200], "description": d.description[:4000]}
                for d in (self.tasks[name] for name in self.names())]


default_registry = Registry()
task = default_registry.task
on_error = default_registry.on_error
schedule = default_registry.schedule


def load_handlers(modules: list[str], registry: Registry = default_registry) -> Registry:
    """Import the handler modules (which register their tasks) and return the registry.

    A module may also define its own `registry = pgtask.Registry()`; it is merged in.
    """
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImportError(f"cannot import handler module {module_name!r}: {exc}") from exc
        own = getattr(module, "registry", None)
        if isinstance(own, Registry) and own is not registry:
            registry.tasks.update(own.tasks)
            registry.error_hooks.extend(own.error_hooks)
            registry.schedules.extend(own.schedules)
    return registry
