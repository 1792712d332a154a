"""Signing in and out of the dashboard.

POST /login checks a token from the form and starts a session (sessions.py): the cookie
holds a random id, never the token, is HttpOnly, SameSite=Strict, Secure over https, and
ends with the session (Max-Age). Wrong tokens count towards the client's lock-out
(limiter.py). POST /logout ends the session; like every form here it must carry the CSRF
token (the form field `csrf` or the X-CSRF-Token header).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from pgtask.web.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, csrf_matches, token_role
from pgtask.web.dashboard import base_path, render
from pgtask.web.limiter import client_key
from pgtask.web.responses import ApiError, error_response
from pgtask.web.state import state_of

FORM_LIMIT = 8192


def login_page(request: Request, message: str | None, status: int = 200) -> Response:
    auth = state_of(request).auth
    return render(request, "login.html", status=status, message=message,
                  tokens=any(c.kind == "token" for c in auth.credentials), basic=auth.has_basic)


def too_many(request: Request, wait: int, machine: bool) -> Response:
    """The lock-out answer: 429 with Retry-After, as JSON or as the sign-in page."""
    message = f"too many failed sign-ins from your address: try again in {wait} s"
    headers = {"Retry-After": str(wait)}
    if machine:
        return error_response(ApiError(429, "too_many_failures", message), headers)
    response = login_page(request, message, status=429)
    response.headers.update(headers)
    return response


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded form (last value of each field); None when over FORM_LIMIT bytes."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > FORM_LIMIT:
            return None
    return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}


def _csrf_ok(request: Request, form: Mapping[str, str]) -> bool:
    sent = form.get("csrf") or request.headers.get(CSRF_HEADER, "")
    return csrf_matches(sent, request.cookies.get(CSRF_COOKIE, ""))


def _client(request: Request) -> str:
    return client_key(request.client.host if request.client else None)


async def login(request: Request) -> Response:
    """GET: the sign-in form. POST: check the token, start a session."""
    if request.method == "GET":
        return login_page(request, None)
    state = state_of(request)
    wait = state.limiter.retry_after(_client(request))
    if wait is not None:
        return too_many(request, wait, machine=False)
    form = await _form(request)
    if form is None:
        return login_page(request, "the form is too large", status=413)
    if not _csrf_ok(request, form):
        return login_page(request, "the form expired: try again", status=403)
    role = token_role(state.auth, form.get("token", ""))
    if role is None:
        state.limiter.failed(_client(request))
        return login_page(request, "unknown token", status=401)
    state.sessions.end(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(base_path(request), status_code=303)
    response.set_cookie(SESSION_COOKIE, state.sessions.create(role), httponly=True,
                        samesite="strict", secure=request.url.scheme == "https",
                        path=base_path(request), max_age=math.ceil(state.sessions.ttl))
    return response


async def logout(request: Request) -> Response:
    """End this browser's session (CSRF-checked, so another site cannot sign you out)."""
    form = await _form(request)
    if form is None or not _csrf_ok(request, form):
        return login_page(request, "the form expired: try again", status=403)
    state_of(request).sessions.end(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(base_path(request) + "login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=base_path(request), httponly=True,
                           samesite="strict", secure=request.url.scheme == "https")
    return response


routes = [Route("/login", login, methods=["GET", "POST"]),
          Route("/logout", logout, methods=["POST"])]
