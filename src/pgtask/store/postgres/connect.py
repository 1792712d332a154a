"""Dedicated connections, outside the pool, for sessions with state of their own.

The scheduler's leadership lock and a done-stream follower's LISTEN belong to one session
each: autocommit, with TCP keepalives so a dead peer is noticed (see postgres.KEEPALIVES).
"""

from __future__ import annotations

import psycopg

from pgtask.store.postgres.store import KEEPALIVES


async def connect(dsn: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=10,
                                                 **KEEPALIVES)
