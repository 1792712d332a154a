"""Enqueue on the caller's own connection, whatever it is: a psycopg 3 connection or pool,
psycopg2, a SQLAlchemy Connection or Session (either backend), a Django connection, or
PyMySQL. The task then commits or rolls back with the caller's transaction.

The driver is told by the connection's type, not by a DSN: the caller holds no DSN here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pgtask.models import EnqueueRequest
from pgtask.store.postgres import chains
from pgtask.store.postgres.enqueue import aenqueue_on as aenqueue_postgres
from pgtask.store.postgres.enqueue import enqueue_on as enqueue_postgres


def _module(obj: object) -> str:
    return type(obj).__module__


def driver_connection(conn: Any) -> Any:
    """The DB-API connection behind a psycopg/psycopg2 connection, a SQLAlchemy object or
    a Django connection (django.db.connections[alias], or the django.db.connection proxy)."""
    if _module(conn).startswith("django.") and hasattr(conn, "ensure_connection"):
        # Django connects lazily; .connection is the driver's, in Django's transaction state.
        conn.ensure_connection()
        return conn.connection
    if _module(conn).startswith("sqlalchemy"):
        if hasattr(conn, "get_bind") and not hasattr(conn, "exec_driver_sql"):  # a Session
            conn = conn.connection()
        return conn.connection.driver_connection
    return conn


def enqueue_on(conn: Any, requests: Sequence[EnqueueRequest]) -> list[int]:
    """Insert `requests` in one statement on the caller's connection; their ids in order."""
    if _module(conn).startswith("psycopg_pool"):
        with conn.connection() as pooled:
            return enqueue_postgres(pooled, requests)
    driver = driver_connection(conn)
    if _module(driver).startswith("pymysql"):
        from pgtask.store.mysql.enqueue import enqueue_on as enqueue_mysql

        return enqueue_mysql(driver, requests)
    return enqueue_postgres(driver, requests)


async def aenqueue_on(conn: Any, requests: Sequence[EnqueueRequest]) -> list[int]:
    """enqueue_on for a psycopg AsyncConnection or AsyncConnectionPool."""
    if _module(conn).startswith("psycopg_pool"):
        async with conn.connection() as pooled:
            return await aenqueue_postgres(pooled, requests)
    return await aenqueue_postgres(conn, requests)


def enqueue_group_on(conn: Any, members: Sequence[dict[str, Any]],
                     then: Sequence[dict[str, Any]]) -> int:
    """A group (Postgres: Capability.GROUPS) on the caller's connection; the group id."""
    return chains.enqueue_group_on(driver_connection(conn), members, then)


async def aenqueue_group_on(conn: Any, members: Sequence[dict[str, Any]],
                            then: Sequence[dict[str, Any]]) -> int:
    return await chains.aenqueue_group_on(conn, members, then)
