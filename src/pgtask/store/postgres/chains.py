"""Fan-in groups in Postgres, on the caller's connection (inside its transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

ENQUEUE_GROUP = "select pgtask.enqueue_group(%s, %s)"


def enqueue_group_on(conn: psycopg.Connection[Any], members: Sequence[dict[str, Any]],
                     then: Sequence[dict[str, Any]]) -> int:
    """Enqueue the members and, once the last has finished, `then`; returns the group id.

    Arguments are follow-up objects (pgtask.chains.group_members / follow_ups)."""
    with conn.cursor(row_factory=tuple_row) as cur:  # whatever rows the caller likes
        row = cur.execute(ENQUEUE_GROUP, (Jsonb(list(members)), Jsonb(list(then)))).fetchone()
    return _group_id(row)


async def aenqueue_group_on(conn: psycopg.AsyncConnection[Any], members: Sequence[dict[str, Any]],
                            then: Sequence[dict[str, Any]]) -> int:
    """enqueue_group_on for an async connection."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(ENQUEUE_GROUP, (Jsonb(list(members)), Jsonb(list(then))))
        row = await cur.fetchone()
    return _group_id(row)


def _group_id(row: tuple[Any, ...] | None) -> int:
    if row is None:
        raise RuntimeError("pgtask.enqueue_group returned no row")
    return int(row[0])
