"""The done-task stream in Postgres (store.base.DoneStream): pgtask.follow_done, and its
optional NOTIFY channel, on a connection of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg.rows import dict_row

from pgtask.store.base import Row
from pgtask.store.postgres.connect import Session, dedicated
from pgtask.store.postgres.errors import translated

LISTEN = "listen pgtask_done"  # the channel pgtask.notify_done() notifies
FOLLOW = "select * from pgtask.follow_done(%s, %s)"


class PostgresDoneStream:
    def __init__(self, conn: Session) -> None:
        self._conn = conn

    async def listen(self) -> None:
        with translated():
            await self._conn.execute(LISTEN)

    async def done_after(self, cursor: str | None, max_rows: int) -> list[Row]:
        """Up to `max_rows` finished tasks after `cursor` (None: the oldest retained), in order."""
        with translated():
            async with self._conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(FOLLOW, (cursor, max_rows))
                return await cur.fetchall()

    async def wait_for_notice(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a pgtask_done notification; True if one came."""
        with translated():
            async for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                return True
        return False


@asynccontextmanager
async def open_done_stream(dsn: str) -> AsyncIterator[PostgresDoneStream]:
    """A done-stream session on a connection of its own, closed when the block ends."""
    async with dedicated(dsn) as conn:
        yield PostgresDoneStream(conn)
