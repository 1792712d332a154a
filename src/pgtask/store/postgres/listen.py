"""The Postgres LISTEN session (store.base.Listener): its own connection, outside the pool.

Reconnection and health policy live in pgtask.worker.listener; this only connects, listens,
receives and pings, and says DatabaseUnavailable whatever goes wrong with the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from pgtask.store.postgres.deadline import deadline
from pgtask.store.postgres.errors import session_errors
from pgtask.store.postgres.pool import network

PING = "select 1"


class PostgresListener:
    """One LISTEN connection on `channels`."""

    def __init__(self, dsn: str, channels: Sequence[str]) -> None:
        self._dsn = dsn
        self._channels = list(channels)
        self._conn: psycopg.AsyncConnection[Any] | None = None

    def _session(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None:
            raise RuntimeError("the listener is not connected: await connect() first")
        return self._conn

    async def connect(self, timeout: float) -> None:
        with session_errors():
            self._conn = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, application_name="pgtask-listener",
                **network(connect_timeout=max(2, int(timeout))))
            for channel in self._channels:
                await self._conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))

    async def receive(self, timeout: float) -> list[tuple[str, str]]:
        """Notifications that arrive within `timeout` seconds (returns early on the first)."""
        conn = self._session()
        with session_errors():
            return [(note.channel, note.payload)
                    async for note in conn.notifies(timeout=timeout, stop_after=1)]

    async def ping(self, timeout: float) -> None:
        """A round trip, given up on (the session dropped) after `timeout` seconds."""
        conn = self._session()
        with session_errors():
            async with deadline(timeout):
                await conn.execute(PING)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except Exception:  # the connection may already be dead; nothing to save
                pass
