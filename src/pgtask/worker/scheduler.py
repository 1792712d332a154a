"""The scheduler: in every worker, one of them at a time enqueues the schedules' fire times.

Leadership is a session advisory lock on the scheduler's own session (store.base.Schedules):
whoever holds it ticks, the others try again each tick. The lock lives as long as the
connection, so a leader that dies (kill -9, lost host) hands over as soon as the server ends
its session, and a leader that lost its connection can no longer fire anything. Exactly-once
does not depend on leadership at all: pgtask.fire_schedule enqueues a (schedule, fire time)
once, so a leader killed mid-tick, or two leaders for a moment, never lose or double a fire
time.

    await run_scheduler(dsn, stop_event)     # returns when stop_event is set
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from pgtask.errors import DatabaseUnavailable, Refused
from pgtask.retry import reconnect_delay
from pgtask.schedules.cron import CronError, Timing, plan
from pgtask.schedules.definition import ScheduleDef
from pgtask.store.sessions import Schedules, open_schedules

log = logging.getLogger("pgtask.scheduler")


class SchedulerService:
    """A worker service (worker/service.py): take turns leading the cron/interval
    schedules, on a connection of its own (Capability.SCHEDULES)."""

    def __init__(self, dsn: str, schedules: Sequence[ScheduleDef]) -> None:
        self._dsn = dsn
        self._schedules = schedules

    async def run(self, stopping: asyncio.Event) -> None:
        await run_scheduler(self._dsn, stopping, schedules=self._schedules)


async def run_scheduler(dsn: str, stop_event: asyncio.Event, tick: float = 1.0, *,
                        schedules: Sequence[ScheduleDef] = ()) -> None:
    """Lead or stand by until `stop_event` is set; reconnect (with backoff) when cut off.

    `schedules` are declared (created or updated) once connected, e.g. those registered with
    @task(cron=...); redeclaring keeps each schedule's place in time.
    """
    failures = 0
    declared = False
    while not stop_event.is_set():
        try:
            async with open_schedules(dsn) as session:
                failures = 0
                if not declared:
                    await _declare(session, schedules)
                    declared = True
                await _serve(session, stop_event, tick)
        except DatabaseUnavailable as exc:
            log.warning("scheduler lost its database connection (%s); reconnecting", exc,
                        extra={"event": "schedule.lost"})
            await _wait(stop_event, reconnect_delay(failures))
            failures += 1


async def _declare(session: Schedules, schedules: Sequence[ScheduleDef]) -> None:
    for definition in schedules:
        try:
            await session.add(definition)
        except Refused as exc:  # e.g. a time zone Postgres lacks: the other schedules run
            log.error("schedule %s was not declared: %s", definition.name, exc,
                      extra={"event": "schedule.invalid"})


async def _serve(session: Schedules, stop_event: asyncio.Event, tick: float) -> None:
    leading = False
    while not stop_event.is_set():
        if not leading and await session.try_lead():
            leading = True
            log.info("this worker now runs the schedules", extra={"event": "schedule.leading"})
        if leading:
            await tick_once(session)
        await _wait(stop_event, tick)


async def tick_once(session: Schedules,
                    now: datetime | None = None) -> list[tuple[str, datetime, int | None]]:
    """Enqueue what is due at `now` (default: the database's now) for every schedule.

    Returns (schedule, fire time, task id) for each fire time enqueued (or found enqueued).
    One transaction per schedule: a leader killed midway leaves every schedule either
    advanced with its tasks, or untouched for the next leader to redo.
    """
    fired: list[tuple[str, datetime, int | None]] = []
    for row in await session.due(now):
        try:
            timing = Timing(row.cron, row.every, row.time_zone, row.anchor_at)
            step = plan(timing, next_fire_at=row.next_fire_at, since=row.updated_at,
                        now=row.now, catch_up=row.catch_up, grace=row.grace)
        except CronError as exc:
            log.error("schedule %s cannot run: %s", row.name, exc,
                      extra={"event": "schedule.broken"})
            continue
        if step.skipped:
            log.warning("schedule %s missed fire times while no scheduler ran; enqueueing "
                        "only the latest %d of them (its catch_up)", row.name, row.catch_up,
                        extra={"event": "schedule.missed"})
        if step.fire_times or step.next_fire_at != row.next_fire_at:
            done = await session.fire(row.name, step.fire_times, step.next_fire_at,
                                      row.updated_at)
            fired += [(row.name, at, task_id) for at, task_id in done]
    return fired


async def _wait(stop_event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop_event.wait(), seconds)
    except TimeoutError:
        pass
