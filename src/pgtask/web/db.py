"""The web app's way into the database: a store.base.BrowserPool, used from worker threads
so that the event loop never waits on the database (why the pool is sync, and what each
call costs: store/postgres/syncpool.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Concatenate, ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from pgtask.store.base import Browser, BrowserPool, Row

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """fn(browser, ...) calls on a pool; DatabaseUnavailable when no connection comes in time
    or the server is away, Refused when it refuses a value (app.py answers 503 and 400)."""

    def __init__(self, pool: BrowserPool) -> None:
        self.pool = pool

    def call_within(self, timeout: float | None, fn: Callable[Concatenate[Browser, P], T],
                    *args: P.args, **kwargs: P.kwargs) -> T:
        """fn on a pooled connection, waiting at most `timeout` (None: the pool's) for one."""
        with self.pool.session(timeout) as browser:
            return fn(browser, *args, **kwargs)

    def call(self, fn: Callable[Concatenate[Browser, P], T], *args: P.args,
             **kwargs: P.kwargs) -> T:
        return self.call_within(None, fn, *args, **kwargs)

    async def run_within(self, timeout: float | None,
                         fn: Callable[Concatenate[Browser, P], T], *args: P.args,
                         **kwargs: P.kwargs) -> T:
        """call_within() in a worker thread."""
        return await run_in_threadpool(lambda: self.call_within(timeout, fn, *args, **kwargs))

    async def run(self, fn: Callable[Concatenate[Browser, P], T], *args: P.args,
                  **kwargs: P.kwargs) -> T:
        """call() in a worker thread."""
        return await self.run_within(None, fn, *args, **kwargs)

    def top_rows(self, *, since: datetime | None = None) -> dict[str, list[Row]]:
        """One `pgtask top` frame's rows (what ops.snapshots.Snapshots reads)."""
        with self.pool.session() as browser:
            return browser.top_rows(since=since)

    def close(self) -> None:
        self.pool.close()
