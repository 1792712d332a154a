"""pgtask: a Postgres-native background task queue for Python."""

from .errors import ConfigError, Permanent, PgTaskError, Retry, SchemaError
from .models import TaskState

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Permanent",
    "PgTaskError",
    "Retry",
    "SchemaError",
    "TaskState",
    "__version__",
]
