"""Before a worker starts: can this database be served by this pgtask? (stub: helper fills in)"""

from __future__ import annotations


async def preflight(dsn: str, timeout: float = 15.0) -> None:
    """Raise ConfigError or SchemaError (one line, says how to fix it) unless the worker can
    serve `dsn`: it answers, its schema is this package's revision, its settings allow progress."""
    return None
