"""The done-task stream in Postgres: pgtask.follow_done, and its optional NOTIFY channel."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

LISTEN = "listen pgtask_done"  # the channel pgtask.notify_done() notifies
FOLLOW = "select * from pgtask.follow_done(%s, %s)"


async def listen(conn: psycopg.AsyncConnection) -> None:
    await conn.execute(LISTEN)


async def done_after(conn: psycopg.AsyncConnection, cursor: str | None,
                     max_rows: int) -> list[dict]:
    """Up to `max_rows` finished tasks after `cursor` (None: the oldest retained), in order."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(FOLLOW, (cursor, max_rows))
        return await cur.fetchall()


async def wait_for_notice(conn: psycopg.AsyncConnection, timeout: float) -> bool:
    """Wait up to `timeout` seconds for a pgtask_done notification; True if one came."""
    async for _ in conn.notifies(timeout=timeout, stop_after=1):
        return True
    return False
