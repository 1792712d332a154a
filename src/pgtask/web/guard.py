"""The gate in front of every route: who is asking (an Authorization header, else a
dashboard session), may they do this (read vs admin), and is a browser mutation really from
our own pages (auth.csrf_ok). A client that keeps presenting wrong credentials is locked
out for a while (limiter.py): 429, even for a right one.

A pure ASGI middleware rather than BaseHTTPMiddleware: it adds no task or queue per
request, which shows in POST /api/tasks throughput.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pgtask.web.auth import SESSION_COOKIE, AuthConfig, allowed, authenticate, csrf_ok
from pgtask.web.limiter import FailureLimiter, client_key
from pgtask.web.login import login_page, routes, too_many
from pgtask.web.responses import ApiError, error_response
from pgtask.web.sessions import Sessions

__all__ = ["Guard", "route_path", "routes"]
PUBLIC = ("/healthz", "/login", "/logout")
MACHINE_PREFIXES = ("/api/", "/metrics", "/openapi.json", "/healthz")


def route_path(scope: Scope) -> str:
    """The path inside this app (without the prefix it is mounted at)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return client_key(client[0] if client else None)


class Guard:
    def __init__(self, app: ASGIApp, config: AuthConfig, sessions: Sessions,
                 limiter: FailureLimiter) -> None:
        self.app = app
        self.config, self.sessions, self.limiter = config, sessions, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = route_path(scope)
        response = self._identify(request, scope, path)
        if response is None and not (path in PUBLIC or path.startswith("/static/")):
            response = self._check(request, scope, path)
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    def _identify(self, request: Request, scope: Scope, path: str) -> Response | None:
        """Put the caller's role and how it was proven in the scope; a locked-out client
        that presents credentials gets its 429 here (on public paths too: the login page
        shows the role, which would make it an oracle)."""
        header = request.headers.get("authorization")
        key = client_of(scope)
        if self.config.enabled and header:
            wait = self.limiter.retry_after(key)
            if wait is not None:
                return too_many(request, wait, machine=path.startswith(MACHINE_PREFIXES))
        role, how = authenticate(self.config, header)
        if how in ("bearer", "basic") and role is None:
            self.limiter.failed(key)
        cookie = request.cookies.get(SESSION_COOKIE)
        if how is None and self.config.enabled and cookie:
            # An unknown or expired session is no guess worth counting (256 random bits):
            # it is a browser that signed in before, sent to the sign-in page.
            role = self.sessions.role(cookie)
            how = "cookie" if role else "expired"
        scope["pgtask_role"], scope["pgtask_how"] = role, how
        return None

    def _check(self, request: Request, scope: Scope, path: str) -> Response | None:
        role, how = scope["pgtask_role"], scope["pgtask_how"]
        if role is None:
            return self._challenge(request, path, how)
        if not allowed(role, request.method):
            return error_response(ApiError(403, "forbidden", "this needs an admin credential"))
        if not csrf_ok(request.method, request.headers, how, request.cookies,
                       request.headers.get("host", "")):
            return error_response(ApiError(
                403, "csrf", "cross-site request refused: send X-CSRF-Token from the dashboard "
                             "page, or authenticate with a bearer token"))
        return None

    def _challenge(self, request: Request, path: str, how: str | None) -> Response:
        schemes = ['Bearer realm="pgtask"'] * any(
            c.kind == "token" for c in self.config.credentials)
        if self.config.has_basic:
            schemes.append('Basic realm="pgtask", charset="UTF-8"')
        headers = {"WWW-Authenticate": ", ".join(schemes)}
        message = {None: "authentication required", "expired": "the session has ended: "
                   "sign in again"}.get(how, "invalid credentials")
        if path.startswith(MACHINE_PREFIXES):
            return error_response(ApiError(401, "unauthorized", message), headers)
        response = login_page(request, None if how is None else message, status=401)
        response.headers.update(headers)
        return response
