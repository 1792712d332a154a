"""Before a worker starts: can this database be served by this pgtask?

Each backend checks, on a connection of its own, that the server answers (else the
server's own reason), that the schema is this package's revision, and that no setting
makes progress impossible (store/postgres/preflight.py, store/mysql/preflight.py).
"""

from __future__ import annotations

from pgtask.config import backend_of
from pgtask.models import Backend


async def preflight(dsn: str, timeout: float = 15.0) -> None:
    """Raise ConfigError or SchemaError (one line, says how to fix it) unless the worker can
    serve `dsn`: it answers, its schema is this package's revision, its settings allow progress.

    `timeout` bounds the retries of a connection the server refuses for now (starting up,
    full, not listening yet); a final refusal (a wrong password, no such database) is raised
    at once.
    """
    if backend_of(dsn) == Backend.MYSQL:
        from pgtask.store.mysql.preflight import check
    else:
        from pgtask.store.postgres.preflight import check
    await check(dsn, timeout)


def check_schema(dsn: str) -> None:
    """Raise ConfigError or SchemaError (one line, says how to fix it) unless `dsn` answers
    and its schema is this package's revision: the start-up check of every CLI command
    (cli/startup.py). Synchronous and one connection, closed at once."""
    if backend_of(dsn) == Backend.MYSQL:
        from pgtask.store.mysql.schema import connect_checked as mysql_checked

        mysql_checked(dsn).close()
    else:
        from pgtask.store.postgres.schema import connect_checked

        connect_checked(dsn).close()
