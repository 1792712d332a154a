"""The worker store's connection pool: its type, how it is made, and reading one value."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from psycopg_pool import AsyncConnectionPool

Row = tuple[Any, ...]
Pool = AsyncConnectionPool[AsyncConnection[Row]]


def make_pool(dsn: str, max_size: int) -> Pool:
    """Autocommit connections, opened by the store (open=False). A short checkout timeout:
    while the server is away, calls fail within seconds (and the runner backs off and
    retries) instead of queueing behind the pool."""
    return AsyncConnectionPool(dsn, min_size=1, max_size=max_size, open=False, timeout=5.0,
                               kwargs={"autocommit": True})


async def scalar(cur: AsyncCursor[Row]) -> Any:
    """The one value of a statement that returns one row (a function call, a count)."""
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("expected one row, got none")
    return row[0]
