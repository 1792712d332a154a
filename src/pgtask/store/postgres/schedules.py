"""Schedules in Postgres (store.base.Schedules): the SQL the scheduler and "pgtask schedule" run.

The scheduler holds a session advisory lock on its own connection while it leads, so the
lock goes with the connection: when the leader's process dies, the server ends its session
and another worker's next try takes the lead. Fire times are enqueued through
pgtask.fire_schedule, whose unique (schedule, fire time) key makes each enqueue exactly once
whoever leads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from pgtask.errors import DatabaseUnavailable, Refused, SchemaError
from pgtask.models import DueSchedule
from pgtask.store.base import Row
from pgtask.store.locks import SCHEDULER_LOCK_KEY
from pgtask.store.postgres.connect import Session, dedicated
from pgtask.store.postgres.deadline import deadline
from pgtask.store.postgres.errors import UNAVAILABLE, refusal_message, unavailable_message
from pgtask.store.sessions import ScheduleSpec

TRY_LEAD = "select pg_try_advisory_lock(%s)"
DUE = """
select n.now, s.name, s.cron, s.every, s.time_zone, s.catch_up, s.grace, s.anchor_at,
       s.next_fire_at, s.updated_at
  from (select coalesce(%(now)s::timestamptz, now()) as now) n
  join pgtask.schedules s on s.enabled and (s.next_fire_at is null or s.next_fire_at <= n.now)
 order by s.name
"""
FIRE = """
select f.fire_at, f.task_id
  from pgtask.fire_schedule(%s, %s::timestamptz[], %s::timestamptz, %s::timestamptz) f
"""
ADD = """
select * from pgtask.add_schedule(
  name => %(name)s, task_type => %(task_type)s, cron => %(cron)s, every => %(every)s,
  time_zone => %(time_zone)s, payload => %(payload)s, queue => %(queue)s,
  priority => %(priority)s, max_attempts => %(max_attempts)s, catch_up => %(catch_up)s,
  grace => %(grace)s, enabled => %(enabled)s, now => %(now)s)
"""
REMOVE = "select pgtask.remove_schedule(%s)"
SET_ENABLED = "select pgtask.set_schedule_enabled(%s, %s)"
RUN_NOW = "select pgtask.run_schedule_now(%s)"
LIST = "select * from pgtask.schedules order by name"

NOT_MIGRATED = "pgtask's schema is missing or old: run 'pgtask migrate'"


@contextmanager
def translated() -> Iterator[None]:
    """Any refusal of a schedule function is the operator's to read, hint included (a bad
    cron field, an unknown zone, no such schedule); a missing table means no migration."""
    try:
        yield
    except psycopg.errors.UndefinedTable:
        raise SchemaError(NOT_MIGRATED) from None
    except UNAVAILABLE as exc:
        raise DatabaseUnavailable(unavailable_message(exc)) from exc
    except psycopg.DatabaseError as exc:
        hint = f" ({exc.diag.message_hint})" if exc.diag.message_hint else ""
        raise Refused(refusal_message(exc) + hint) from None


# A schedules session that stops answering (a silent path) is given up on, and the
# scheduler reconnects; every statement here is short.
SESSION_DEADLINE = 10.0


@asynccontextmanager
async def _answered() -> AsyncIterator[None]:
    with translated():
        async with deadline(SESSION_DEADLINE):
            yield


class PostgresSchedules:
    """store.base.Schedules on one dedicated connection (see open_schedules)."""

    def __init__(self, conn: Session) -> None:
        self._conn = conn

    async def try_lead(self) -> bool:
        return bool(await self._scalar(TRY_LEAD, (SCHEDULER_LOCK_KEY,)))

    async def due(self, now: datetime | None = None) -> list[DueSchedule]:
        async with _answered():
            cur = await self._conn.execute(DUE, {"now": now})
            return [DueSchedule(*row) for row in await cur.fetchall()]

    async def fire(self, name: str, fire_times: Sequence[datetime], next_fire_at: datetime,
                   if_updated_at: datetime) -> list[tuple[datetime, int | None]]:
        async with _answered():
            cur = await self._conn.execute(FIRE, (name, list(fire_times), next_fire_at,
                                                  if_updated_at))
            return [(row[0], row[1]) for row in await cur.fetchall()]

    async def add(self, definition: ScheduleSpec, now: datetime | None = None) -> Row:
        d = definition
        params = {"name": d.name, "task_type": d.task_type, "cron": d.cron, "every": d.every,
                  "time_zone": d.time_zone, "payload": Jsonb(dict(d.payload)),
                  "queue": d.queue, "priority": d.priority, "max_attempts": d.max_attempts,
                  "catch_up": d.catch_up, "grace": d.grace, "enabled": d.enabled, "now": now}
        rows = await self._rows(ADD, params)
        return rows[0]

    async def remove(self, name: str) -> bool:
        return bool(await self._scalar(REMOVE, (name,)))

    async def set_enabled(self, name: str, enabled: bool) -> bool:
        return bool(await self._scalar(SET_ENABLED, (name, enabled)))

    async def run_now(self, name: str) -> int:
        return int(await self._scalar(RUN_NOW, (name,)))

    async def list_all(self) -> list[Row]:
        return await self._rows(LIST)

    async def _rows(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        async with _answered(), self._conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()

    async def _scalar(self, query: str, params: tuple[Any, ...]) -> Any:
        """The one value of a function call (each returns exactly one row)."""
        async with _answered():
            cur = await self._conn.execute(query, params)
            row = await cur.fetchone()
        if row is None:
            raise RuntimeError(f"{query!r} returned no row")
        return row[0]


@asynccontextmanager
async def open_schedules(dsn: str) -> AsyncIterator[PostgresSchedules]:
    """A schedules session on a connection of its own, closed when the block ends."""
    async with dedicated(dsn) as conn:
        yield PostgresSchedules(conn)
