"""What every handler of one app shares: the database, snapshots, auth, the dashboard's
sessions and the failed-login limiter."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from pgtask.ops.snapshot import Snapshot
from pgtask.ops.snapshots import Snapshots
from pgtask.web.auth import AuthConfig
from pgtask.web.db import Database
from pgtask.web.limiter import FailureLimiter
from pgtask.web.sessions import Sessions


@dataclass
class WebState:
    db: Database
    snapshots: Snapshots
    auth: AuthConfig
    refresh_seconds: float = 2.0  # how often the dashboard polls
    sessions: Sessions = field(default_factory=Sessions)
    limiter: FailureLimiter = field(default_factory=FailureLimiter)

    async def snapshot(self) -> Snapshot:
        """The shared snapshot, taken in a worker thread when it is due (it reads the
        database)."""
        return await run_in_threadpool(self.snapshots.take)


def state_of(request: Request) -> WebState:
    state: WebState = request.app.state.pgtask
    return state
