"""pgtask: a Postgres-native background task queue for Python."""

from .chains import follow_up
from .client import (
    aenqueue,
    aenqueue_group,
    aenqueue_many,
    enqueue,
    enqueue_group,
    enqueue_many,
    make_request,
)
from .context import TaskContext
from .errors import ConfigError, Permanent, PgTaskError, Retry, SchemaError
from .http.signing import InvalidSignature, new_secret, sign_webhook, verify_signature
from .models import TaskState
from .follow import DoneTask, follow
from .registry import Registry, TaskDef, load_handlers, on_error, schedule, task
from .schedules.definition import ScheduleDef
from .runner import Worker, WorkerConfig
from .store.base import EnqueueRequest

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DoneTask",
    "EnqueueRequest",
    "InvalidSignature",
    "Permanent",
    "PgTaskError",
    "Registry",
    "Retry",
    "ScheduleDef",
    "SchemaError",
    "TaskContext",
    "TaskDef",
    "TaskState",
    "Worker",
    "WorkerConfig",
    "__version__",
    "aenqueue",
    "aenqueue_group",
    "aenqueue_many",
    "enqueue",
    "enqueue_group",
    "enqueue_many",
    "follow",
    "follow_up",
    "load_handlers",
    "make_request",
    "new_secret",
    "on_error",
    "schedule",
    "sign_webhook",
    "task",
    "verify_signature",
]
