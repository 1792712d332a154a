"""The gate in front of every route: who is asking (auth.authenticate), may they do this
(read vs admin), and is a browser mutation really from our own pages (auth.csrf_ok).

A pure ASGI middleware rather than BaseHTTPMiddleware: it adds no task or queue per
request, which shows in POST /api/tasks throughput.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from pgtask.web.auth import CSRF_COOKIE, SESSION_COOKIE, AuthConfig, allowed, authenticate, csrf_ok
from pgtask.web.dashboard import base_path, render
from pgtask.web.responses import ApiError, error_response
from pgtask.web.state import state_of

PUBLIC = ("/healthz", "/login")
MACHINE_PREFIXES = ("/api/", "/metrics", "/openapi.json")


def route_path(scope: Scope) -> str:
    """The path inside this app (without the prefix it is mounted at)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


class Guard:
    def __init__(self, app: ASGIApp, config: AuthConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = route_path(scope)
        role, how = authenticate(self.config, request.headers.get("authorization"),
                                 request.cookies.get(SESSION_COOKIE))
        scope["pgtask_role"] = role
        if path in PUBLIC or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        if role is None:
            response = self._challenge(request, path, invalid=how is not None)
        elif not allowed(role, request.method):
            response = error_response(ApiError(403, "forbidden", "this needs an admin credential"))
        elif not csrf_ok(request.method, request.headers, how, request.cookies,
                         request.headers.get("host", "")):
            response = error_response(ApiError(
                403, "csrf", "cross-site request refused: send X-CSRF-Token from the dashboard "
                             "page, or authenticate with a bearer token"))
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _challenge(self, request: Request, path: str, invalid: bool) -> Response:
        schemes = ['Bearer realm="pgtask"'] * any(
            c.kind == "token" for c in self.config.credentials)
        if self.config.has_basic:
            schemes.append('Basic realm="pgtask", charset="UTF-8"')
        headers = {"WWW-Authenticate": ", ".join(schemes)}
        message = "invalid credentials" if invalid else "authentication required"
        if path.startswith(MACHINE_PREFIXES):
            return error_response(ApiError(401, "unauthorized", message), headers)
        response = login_page(request, message if invalid else None, status=401)
        response.headers.update(headers)
        return response


def login_page(request: Request, message: str | None, status: int = 200) -> Response:
    auth = state_of(request).auth
    return render(request, "login.html", status=status, message=message,
                  tokens=any(c.kind == "token" for c in auth.credentials), basic=auth.has_basic)


async def login(request: Request) -> Response:
    """GET: the sign-in form. POST: check the token, keep it in an HttpOnly session cookie."""
    if request.method == "GET":
        return login_page(request, None)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > 8192:
            return login_page(request, "the form is too large", status=413)
    form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get("csrf", "").encode(), expected.encode()):
        return login_page(request, "the form expired: try again", status=403)
    role, _ = authenticate(state_of(request).auth, None, form.get("token", ""))
    if role is None:
        return login_page(request, "unknown token", status=401)
    response = RedirectResponse(base_path(request), status_code=303)
    response.set_cookie(SESSION_COOKIE, form["token"], httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path=base_path(request))
    return response


routes = [Route("/login", login, methods=["GET", "POST"])]
