"""Dedicated connections, outside the pool, for sessions with state of their own.

The scheduler's leadership lock and a done-stream follower's LISTEN belong to one session
each: autocommit, with TCP keepalives so a dead peer is noticed (see pool.network).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from pgtask.store.postgres import decode
from pgtask.store.postgres.errors import translated
from pgtask.store.postgres.pool import network

Session = psycopg.AsyncConnection[tuple[Any, ...]]


async def connect(dsn: str) -> Session:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True,
                                                 **network(connect_timeout=10))
    decode.register(conn)  # no stored value can fail a fetch (decode.py)
    return conn


@asynccontextmanager
async def dedicated(dsn: str) -> AsyncIterator[Session]:
    """connect() for the length of a block; DatabaseUnavailable when the server is away."""
    with translated():
        conn = await connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()
