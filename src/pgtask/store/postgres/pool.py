"""The worker store's connection pool: its type, how it is made, and reading one value."""

from __future__ import annotations

from typing import Any, TypedDict

from psycopg import AsyncConnection, AsyncCursor
from psycopg_pool import AsyncConnectionPool

from pgtask.store.postgres import decode

Row = tuple[Any, ...]
Connection = AsyncConnection[Row]
Pool = AsyncConnectionPool[Connection]


class Network(TypedDict):
    connect_timeout: int
    keepalives: int
    keepalives_idle: int
    keepalives_interval: int
    keepalives_count: int
    tcp_user_timeout: int


def network(connect_timeout: int = 5) -> Network:
    """How every worker connection notices a peer that went away, in the kernel (libpq
    options): probe after 5 s of silence, every 2 s, 3 times (a dead peer shows in about
    11 s), and give up on data the peer has not acknowledged for 10 s. These catch the dead
    host and the dropped NAT entry on idle connections; a path that still acknowledges but
    forwards nothing is caught by each call's own deadline (deadline.py)."""
    return Network(connect_timeout=connect_timeout, keepalives=1, keepalives_idle=5,
                   keepalives_interval=2, keepalives_count=3, tcp_user_timeout=10_000)


async def configure(conn: Connection) -> None:
    """Every new pooled connection: loaders that never raise on a stored value (decode.py)."""
    decode.register(conn)


def make_pool(dsn: str, max_size: int) -> Pool:
    """Autocommit connections, opened by the store (open=False). A short checkout timeout:
    while the server is away, calls fail within seconds (and the runner backs off and
    retries) instead of queueing behind the pool."""
    return AsyncConnectionPool(dsn, min_size=1, max_size=max_size, open=False, timeout=5.0,
                               kwargs={"autocommit": True, **network()}, configure=configure)


async def scalar(cur: AsyncCursor[Row]) -> Any:
    """The one value of a statement that returns one row (a function call, a count)."""
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("expected one row, got none")
    return row[0]
