"""A deadline for one database call: when the server does not answer in time, give up on the
call and on its connection, so that a silent network path cannot wedge the worker.

Keepalives do not cover every silence (a proxy or NAT that still acknowledges packets but
forwards nothing), and psycopg, when its call is cancelled, first asks the server to cancel
the query and then waits for the answer: up to 5 s for the cancel request and 5 s more for
the result (psycopg AsyncConnection.wait). On a silent path both waits run out. So the
deadline cancels twice: the first cancel lets psycopg's cancel request work on a healthy path
(the statement then stops on the server too); the second, GRACE seconds later, makes psycopg
close the connection at once ("query cancellation interrupted: closing connection"). A silent
path is therefore given up on within `seconds + GRACE`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pgtask.errors import DatabaseUnavailable

GRACE = 1.0  # for psycopg's cancel request to land before the connection is dropped


class NoAnswer(DatabaseUnavailable):
    """The database did not answer within the call's deadline; its connection was dropped."""


@asynccontextmanager
async def deadline(seconds: float | None) -> AsyncIterator[None]:
    """Run the block within `seconds` (None: no deadline), else raise NoAnswer."""
    if seconds is None:
        yield
        return
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - store calls always run inside a task
        raise RuntimeError("a database deadline needs an asyncio task")
    loop = asyncio.get_running_loop()
    fired = 0
    handles: list[asyncio.TimerHandle] = []

    def fire() -> None:
        nonlocal fired
        fired += 1
        task.cancel()
        if fired == 1:
            handles.append(loop.call_later(GRACE, fire))

    handles.append(loop.call_later(seconds, fire))
    try:
        yield
    except BaseException as exc:
        if not fired:
            raise
        for _ in range(fired):  # our cancels are spent: later awaits must not see them
            task.uncancel()
        if not isinstance(exc, asyncio.CancelledError) or task.cancelling():
            raise  # another error, or cancelled from outside as well: that one wins
        raise NoAnswer(f"no answer from the database within {seconds:g}s") from None
    finally:
        for handle in handles:
            handle.cancel()
