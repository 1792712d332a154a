"""Schedules in Postgres: the SQL the scheduler and "pgtask schedule" run.

The scheduler holds a session advisory lock on its own connection while it leads, so the
lock goes with the connection: when the leader's process dies, the server ends its session
and another worker's next try takes the lead. Fire times are enqueued through
pgtask.fire_schedule, whose unique (schedule, fire time) key makes each enqueue exactly once
whoever leads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from pgtask.schedules.definition import ScheduleDef
from pgtask.store.locks import SCHEDULER_LOCK_KEY

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


@dataclass(frozen=True, slots=True)
class DueSchedule:
    """A schedule row the scheduler must look at now, with the database's `now`."""

    now: datetime
    name: str
    cron: str | None
    every: timedelta | None
    time_zone: str
    catch_up: int
    grace: timedelta
    anchor_at: datetime
    next_fire_at: datetime | None
    updated_at: datetime


async def try_lead(conn: psycopg.AsyncConnection) -> bool:
    """Take the scheduler's lock for this session if nobody holds it."""
    cur = await conn.execute(TRY_LEAD, (SCHEDULER_LOCK_KEY,))
    return bool((await cur.fetchone())[0])


async def due(conn: psycopg.AsyncConnection, now: datetime | None = None) -> list[DueSchedule]:
    cur = await conn.execute(DUE, {"now": now})
    return [DueSchedule(*row) for row in await cur.fetchall()]


async def fire(conn: psycopg.AsyncConnection, name: str, fire_times: Sequence[datetime],
               next_fire_at: datetime, if_updated_at: datetime) -> list[tuple[datetime, int | None]]:
    """Enqueue these fire times (each exactly once) and move the schedule on."""
    cur = await conn.execute(FIRE, (name, list(fire_times), next_fire_at, if_updated_at))
    return [(row[0], row[1]) for row in await cur.fetchall()]


async def add(conn: psycopg.AsyncConnection, definition: ScheduleDef,
              now: datetime | None = None) -> dict:
    """Create or replace a schedule; returns its row."""
    d = definition
    params = {"name": d.name, "task_type": d.task_type, "cron": d.cron, "every": d.every,
              "time_zone": d.time_zone, "payload": Jsonb(d.payload), "queue": d.queue,
              "priority": d.priority, "max_attempts": d.max_attempts, "catch_up": d.catch_up,
              "grace": d.grace, "enabled": d.enabled, "now": now}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ADD, params)
        return await cur.fetchone()


async def remove(conn: psycopg.AsyncConnection, name: str) -> bool:
    return await _scalar(conn, REMOVE, (name,))


async def set_enabled(conn: psycopg.AsyncConnection, name: str, enabled: bool) -> bool:
    return await _scalar(conn, SET_ENABLED, (name, enabled))


async def run_now(conn: psycopg.AsyncConnection, name: str) -> int:
    return await _scalar(conn, RUN_NOW, (name,))


async def list_all(conn: psycopg.AsyncConnection) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(LIST)
        return await cur.fetchall()


async def _scalar(conn: psycopg.AsyncConnection, query: str, params: tuple):
    cur = await conn.execute(query, params)
    return (await cur.fetchone())[0]
