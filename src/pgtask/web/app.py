"""create_app: the API, the dashboard and /metrics as one Starlette application.

    app = create_app("postgresql://app@db/app")            # uvicorn module:app
    parent.mount("/pgtask", create_app(dsn))               # inside your own app

Errors: an ApiError is its own 4xx; a value the database refuses (a check it makes and
validation.py did not) is a 400 with the database's message; an unreachable database is a
503. Anything else is a bug, answered with a 500 that reveals nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from pgtask.config import resolve_dsn
from pgtask.endpoints import is_loopback
from pgtask.errors import ConfigError, DatabaseUnavailable, Refused
from pgtask.ops.snapshots import Snapshots
from pgtask.store.postgres.syncpool import open_browsers
from pgtask.web import api_queues, api_task_edits, api_tasks, dashboard, guard, hardening
from pgtask.web.auth import AuthConfig
from pgtask.web.auth import load as load_auth
from pgtask.web.db import Database
from pgtask.web.limiter import FailureLimiter
from pgtask.web.metrics import registry_for
from pgtask.web.openapi import document
from pgtask.web.responses import ApiError, Json, bad_request, error_response
from pgtask.web.sessions import SESSION_TTL, Sessions
from pgtask.web.state import WebState

log = logging.getLogger("pgtask.web")
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


def _allowed_methods(request: Request) -> str:
    """Every method some route of this path takes: Starlette's 405 names only those of the
    first route that matched the path (POST /api/tasks, not GET)."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods and \
                route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers is not None else {}
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    return error_response(ApiError(exc.status_code, code, str(exc.detail)), headers or None)


async def _refused(request: Request, exc: Exception) -> Response:
    """A value the database (Refused) or configure_queue (ConfigError) refused: the
    client's mistake, a 400 with the database's message."""
    return error_response(bad_request(str(exc).removeprefix("pgtask: ")))


async def _unavailable(request: Request, exc: Exception) -> Response:
    # Only the cause's class name (PoolTimeout, OperationalError): a driver's message can
    # carry connection details.
    log.warning("%s %s: database unavailable (%s)", request.method, request.url.path,
                type(exc.__cause__ or exc).__name__, extra={"event": "web.db_unavailable"})
    return error_response(ApiError(503, "database_unavailable",
                                   "the database is unreachable; try again shortly"),
                          {"Retry-After": "5"})


async def _internal(request: Request, exc: Exception) -> Response:
    return error_response(ApiError(500, "internal_error", "internal error (see the server log)"))


class _App(Starlette):
    """Starlette with hardening.py outside its error handling: every response, a 500 or a
    refused Host included, gets the security headers."""

    allowed_hosts: tuple[str, ...] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        inner = hardening.HostCheck(super().build_middleware_stack(), self.allowed_hosts)
        return hardening.SecurityHeaders(inner)


def _allow_without_auth(insecure: bool, bound: str | None) -> None:
    """Refuse an app without credentials unless asked for explicitly; warn when it may be
    reachable off this host (mounted, or served on a non-loopback address)."""
    if not insecure:
        raise ConfigError(
            "create_app: no credentials are configured, so anyone who can reach the app could "
            "read and change every task. Set PGTASK_WEB_TOKENS, PGTASK_WEB_BASIC or "
            "PGTASK_WEB_AUTH_FILE (or pass auth=...); or pass insecure=True to serve without "
            "authentication (only behind your own authentication, or on loopback)")
    if bound is None or not is_loopback(bound):
        log.warning("the pgtask web app has no authentication (insecure=True): anyone who "
                    "can reach it can read and change every task", extra={"event": "web.insecure"})


def create_app(dsn: str | None = None, *, auth: AuthConfig | None = None, pool_size: int = 8,
               db_timeout: float = 10.0, refresh_seconds: float = 2.0,
               allowed_hosts: Iterable[str] = (), bound: str | None = None,
               session_ttl: float = SESSION_TTL, insecure: bool = False) -> Starlette:
    """The pgtask web app for the database at `dsn` (default: $PGTASK_DSN, else embedded).

    `auth`: the credentials (default: from PGTASK_WEB_TOKENS / PGTASK_WEB_BASIC /
    PGTASK_WEB_AUTH_FILE; none configured means no authentication). `db_timeout`: how long
    a request waits for a database connection before it is answered 503. `refresh_seconds`:
    how often the dashboard polls. Nothing connects to the database until the first request.

    Host names (hardening.py): without auth only loopback names and addresses, `bound` (the
    address served on) and `allowed_hosts` are answered, any other Host is refused 421 (DNS
    rebinding); with auth, any Host unless `allowed_hosts` are given. Mounted in your own
    app under a name, pass that name. `session_ttl`: seconds a dashboard sign-in lasts.

    Without credentials the app refuses to be made (ConfigError) unless `insecure=True`:
    anyone who reaches it could read every task and change any (as `pgtask serve` refuses
    a non-loopback address without them unless --insecure).
    """
    url = resolve_dsn(dsn)
    auth = load_auth() if auth is None else auth
    if not auth.enabled:
        _allow_without_auth(insecure, bound)
    sessions, limiter = Sessions(session_ttl), FailureLimiter()
    db = Database(open_browsers(url, max_size=pool_size, timeout=db_timeout))
    snapshots = Snapshots(db)
    registry = registry_for(db, snapshots)

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Json:
        return Json(document())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(db.close)

    routes = [
        *api_tasks.routes, *api_task_edits.routes, *api_queues.routes, *dashboard.routes,
        *guard.routes,
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
    handlers = {
        ApiError: _api_error, HTTPException: _http_error, ConfigError: _refused,
        Refused: _refused, DatabaseUnavailable: _unavailable, Exception: _internal,
    }
    app = _App(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.allowed_hosts = hardening.allowed_hosts(auth.enabled, bound, allowed_hosts)
    app.state.pgtask = WebState(db=db, snapshots=snapshots, auth=auth,
                                refresh_seconds=refresh_seconds, sessions=sessions,
                                limiter=limiter)
    app.add_middleware(guard.Guard, config=auth, sessions=sessions, limiter=limiter)
    return app
