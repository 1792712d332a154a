"""pgtask: a Postgres-native background task queue for Python."""

from .client import aenqueue, aenqueue_many, enqueue, enqueue_many, make_request
from .context import TaskContext
from .errors import ConfigError, Permanent, PgTaskError, Retry, SchemaError
from .models import TaskState
from .registry import Registry, TaskDef, load_handlers, on_error, task
from .runner import Worker, WorkerConfig
from .store.base import EnqueueRequest

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "EnqueueRequest",
    "Permanent",
    "PgTaskError",
    "Registry",
    "Retry",
    "SchemaError",
    "TaskContext",
    "TaskDef",
    "TaskState",
    "Worker",
    "WorkerConfig",
    "__version__",
    "aenqueue",
    "aenqueue_many",
    "enqueue",
    "enqueue_many",
    "load_handlers",
    "make_request",
    "on_error",
    "task",
]
