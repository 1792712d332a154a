"""What every handler of one app shares: the database, snapshots, auth and metrics."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from pgtask.web.auth import AuthConfig
from pgtask.web.db import Database, Snapshots


@dataclass
class WebState:
    db: Database
    snapshots: Snapshots
    auth: AuthConfig
    refresh_seconds: float = 2.0  # how often the dashboard polls


def state_of(request: Request) -> WebState:
    return request.app.state.pgtask
