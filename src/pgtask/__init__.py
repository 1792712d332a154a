"""pgtask: a Postgres-native background task queue for Python."""

from .client import aenqueue, aenqueue_many, enqueue, enqueue_many, make_request
from .context import TaskContext
from .errors import ConfigError, Permanent, PgTaskError, Retry, SchemaError
from .http.signing import InvalidSignature, new_secret, sign_webhook, verify_signature
from .models import TaskState
from .registry import Registry, TaskDef, load_handlers, on_error, task
from .runner import Worker, WorkerConfig
from .store.base import EnqueueRequest

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "EnqueueRequest",
    "InvalidSignature",
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
    "new_secret",
    "on_error",
    "sign_webhook",
    "task",
    "verify_signature",
]
