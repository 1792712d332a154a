"""pgtask: a Postgres-native background task queue for Python.

Enqueueing (`pgtask.enqueue` on your own connection) imports no worker and no web stack: the
worker's names (Worker, WorkerConfig, TaskContext) are loaded on first use.
"""

from typing import TYPE_CHECKING

from pgtask._version import __version__
from pgtask.chains import follow_up
from pgtask.client import (
    aenqueue,
    aenqueue_group,
    aenqueue_many,
    enqueue,
    enqueue_group,
    enqueue_many,
    make_request,
)
from pgtask.errors import (
    Cancel,
    ConfigError,
    DatabaseUnavailable,
    Permanent,
    PgTaskError,
    Retry,
    SchemaError,
)
from pgtask.follow import DoneTask, follow
from pgtask.lazy import lazy_attributes
from pgtask.models import EnqueueRequest, TaskState
from pgtask.registry import Registry, TaskDef, load_handlers, on_error, schedule, task
from pgtask.schedules.definition import ScheduleDef
from pgtask.signing import InvalidSignature, new_secret, sign_webhook, verify_signature

if TYPE_CHECKING:
    from pgtask.worker.context import TaskContext
    from pgtask.worker.runner import Worker, WorkerConfig


# The runtime costs ~15 ms to import and an enqueueing web app never needs it.
_LAZY = {"TaskContext": "pgtask.worker.context", "Worker": "pgtask.worker.runner",
         "WorkerConfig": "pgtask.worker.runner"}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "Cancel",
    "ConfigError",
    "DatabaseUnavailable",
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
