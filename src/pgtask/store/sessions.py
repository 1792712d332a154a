"""Sessions on a dedicated connection each, which only Postgres serves: the schedules
(Schedules: the scheduler's leadership and `pgtask schedule`) and the done-task stream
(DoneStream: pgtask.follow): the protocols, and how to open one. On a MySQL DSN each
refuses in one line (store.base.require), before any connection is made.

    async with open_schedules(dsn) as schedules:
        await schedules.add(definition)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from pgtask.models import DueSchedule
from pgtask.store.base import Capability, Row, require, served


class ScheduleSpec(Protocol):
    """A schedule as declared and checked (pgtask.schedules.ScheduleDef is one)."""

    @property
    def name(self) -> str: ...
    @property
    def task_type(self) -> str: ...
    @property
    def cron(self) -> str | None: ...
    @property
    def every(self) -> timedelta | None: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...
    @property
    def queue(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def max_attempts(self) -> int | None: ...
    @property
    def catch_up(self) -> int: ...
    @property
    def grace(self) -> timedelta: ...
    @property
    def enabled(self) -> bool | None: ...


class Schedules(Protocol):
    """One session on the schedules table. The scheduler's leadership lock belongs to the
    session: it ends with it (or with the server's end of it, when the process dies)."""

    async def try_lead(self) -> bool:
        """Take the scheduler's lock for this session if nobody holds it."""

    async def due(self, now: datetime | None = None) -> list[DueSchedule]:
        """The enabled schedules due at `now` (None: the database's clock), by name."""

    async def fire(self, name: str, fire_times: Sequence[datetime], next_fire_at: datetime,
                   if_updated_at: datetime) -> list[tuple[datetime, int | None]]:
        """Enqueue these fire times (each exactly once) and move the schedule on, unless it
        changed since `if_updated_at`: (fire time, task id) for each."""

    async def add(self, definition: ScheduleSpec, now: datetime | None = None) -> Row:
        """Create or replace a schedule (keeping its place in time); its row."""

    async def remove(self, name: str) -> bool: ...

    async def set_enabled(self, name: str, enabled: bool) -> bool: ...

    async def run_now(self, name: str) -> int:
        """Enqueue the schedule's task now; its id (Refused: no such schedule)."""

    async def list_all(self) -> list[Row]: ...


class DoneStream(Protocol):
    """One session reading the stream of finished tasks (pgtask.follow)."""

    async def listen(self) -> None:
        """Be notified when tasks finish (if the database is set to notify)."""

    async def done_after(self, cursor: str | None, max_rows: int) -> list[Row]:
        """Up to `max_rows` finished tasks after `cursor` (None: the oldest retained), in
        stream order; each row's "cursor" resumes behind it."""

    async def wait_for_notice(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a notification; True if one came."""


def open_schedules(dsn: str) -> AbstractAsyncContextManager[Schedules]:
    """A Schedules session on its own connection (Unsupported on MySQL)."""
    require(served(dsn), Capability.SCHEDULES)
    from pgtask.store.postgres.schedules import open_schedules as open_postgres

    return open_postgres(dsn)


def open_done_stream(dsn: str) -> AbstractAsyncContextManager[DoneStream]:
    """A DoneStream session on its own connection (Unsupported on MySQL)."""
    require(served(dsn), Capability.FOLLOW)
    from pgtask.store.postgres.stream import open_done_stream as open_postgres

    return open_postgres(dsn)
