"""The Postgres LISTEN session (store.base.Listener): its own connection, outside the pool.

Reconnection and health policy live in pgtask.worker.listener; this only connects, listens,
receives and pings, and says DatabaseUnavailable whatever goes wrong with the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import psycopg
from psycopg import sql

from pgtask.store.postgres.errors import session_errors


class Keepalives(TypedDict):
    keepalives: int
    keepalives_idle: int
    keepalives_interval: int
    keepalives_count: int


# Seconds of silence before the kernel probes a TCP connection, and how hard it probes:
# a half-open socket is noticed in about 5 + 2 * 3 = 11 s even without our own ping.
KEEPALIVES: Keepalives = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                          "keepalives_count": 3}
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
                self._dsn, autocommit=True, connect_timeout=max(1, int(timeout)),
                application_name="pgtask-listener", **KEEPALIVES)
            for channel in self._channels:
                await self._conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))

    async def receive(self, timeout: float) -> list[tuple[str, str]]:
        """Notifications that arrive within `timeout` seconds (returns early on the first)."""
        conn = self._session()
        with session_errors():
            return [(note.channel, note.payload)
                    async for note in conn.notifies(timeout=timeout, stop_after=1)]

    async def ping(self) -> None:
        conn = self._session()
        with session_errors():
            await conn.execute(PING)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except Exception:  # the connection may already be dead; nothing to save
                pass
