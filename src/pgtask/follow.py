"""Follow the done-task stream: every finished task once, in stream order, from a cursor.

    async for done in pgtask.follow(dsn, after=saved_cursor):
        handle(done)
        saved_cursor = done.cursor      # store it; pass it back to resume after a restart

Rows come from pgtask.follow_done (see sql/postgres/pgtask.sql for why its order is safe
where "finished_at > x" is not). The follower LISTENs on pgtask_done, which the database
notifies only when the setting pgtask.notify_done is 'on'; otherwise it polls every
`poll_interval` seconds. A lost connection is retried with backoff, resuming at the last
row yielded. The stream holds what history retains: rows pruned before a follower read
them are gone.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pgtask.errors import DatabaseUnavailable
from pgtask.models import TaskState
from pgtask.retry import reconnect_delay
from pgtask.store.sessions import open_done_stream

log = logging.getLogger("pgtask.follow")
NOTIFIED_RETRY = 0.02  # seconds before the first look after a pgtask_done notification


@dataclass(frozen=True, slots=True)
class DoneTask:
    """The finished-task record (a row of pgtask.done_tasks)."""

    id: int
    queue: str
    task_type: str
    state: TaskState
    payload: dict[str, Any]
    result: Any
    message: str | None
    attempts: int
    max_attempts: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime
    duration: timedelta | None
    worker_id: str | None
    errors: list[dict[str, Any]]
    parent_id: int | None
    group_id: int | None
    follow_ups: list[int]
    cursor: str  # pass as `after` to resume behind this task

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DoneTask:
        fields = {name: row[name] for name in cls.__slots__}
        fields["state"] = TaskState(row["state"])
        return cls(**fields)


async def follow(dsn: str, after: str | None = None, *, batch: int = 100,
                 poll_interval: float = 1.0, listen: bool = True) -> AsyncIterator[DoneTask]:
    """Yield finished tasks after cursor `after` (None: the oldest retained), forever.

    Postgres only: on a MySQL DSN, pgtask.errors.Unsupported."""
    if not 1 <= batch <= 10000:
        raise ValueError("batch must be from 1 to 10000")
    cursor = after
    failures = 0
    while True:
        try:
            async with open_done_stream(dsn) as stream:
                if listen:
                    await stream.listen()
                failures = 0
                delay = poll_interval
                while True:
                    rows = await stream.done_after(cursor, batch)
                    for row in rows:
                        done = DoneTask.from_row(row)
                        cursor = done.cursor
                        yield done
                    if len(rows) == batch:
                        continue
                    if not rows:
                        delay = min(poll_interval, delay * 2)
                    if await stream.wait_for_notice(delay):
                        # Something finished, but the stream shows it only once every older
                        # transaction has ended: look again soon, then less and less often.
                        delay = NOTIFIED_RETRY
        except DatabaseUnavailable as exc:
            log.warning("done-stream follower lost its connection (%s); resuming at %s",
                        exc, cursor, extra={"event": "follow.lost"})
            import asyncio  # here, not at the top: `import pgtask` stays free of it

            await asyncio.sleep(reconnect_delay(failures))
            failures += 1
