"""What every response of the app gets, whatever route or error made it.

HostCheck: a page on evil.example whose name is re-pointed at 127.0.0.1 (DNS rebinding) is
same-origin with the dashboard as far as the browser knows: it passes the Origin = Host rule
and reads the CSRF token. Its requests still carry `Host: evil.example`, so with auth off
only loopback names and addresses, the bound address and the names given (--allowed-host)
are answered; any other Host gets 421. With auth on every Host is answered unless names are
given: a rebound page has no credentials (cookies and basic auth belong to the real origin).
An IP literal other than loopback must be listed too: no name, no need.

SecurityHeaders: CSP without inline script or style (the templates use none), no framing,
no MIME sniffing, no Referer (task ids and filters are in URLs), and nothing dynamic cached.

Both are pure ASGI middlewares (like guard.Guard) and sit outside Starlette's error
handling, so a 500 gets the headers too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgtask.endpoints import is_loopback

LOOPBACK_NAMES = ("localhost", "*.localhost")  # *.localhost resolves to loopback (RFC 6761)
WILDCARD_BINDS = ("", "0.0.0.0", "::", "*")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<name>[^:\[\]]+))(?::(?P<port>\d{1,5}))?")
REFUSED = ("pgtask: this server does not answer to that Host name (a guard against DNS "
           "rebinding): use http://localhost, or start it with "
           "`pgtask serve --allowed-host NAME`\n")


def host_of(header: str | None) -> str | None:
    """The host of a Host header, lower-case, without port, brackets or a final dot; None
    when it is missing or malformed."""
    match = _HOST.fullmatch((header or "").strip())
    if match is None:
        return None
    if match["v6"] is not None:
        try:
            return str(ipaddress.IPv6Address(match["v6"]))
        except ValueError:
            return None
    return match["name"].lower().rstrip(".") or None


def _normal(name: str) -> str:
    """A name or address as host_of() gives it, so that 'A.example.', '[::1]', '::1' and
    '0:0::1' compare as they should."""
    name = name.strip()
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return host_of(name) or name.lower()


def allowed_hosts(auth_enabled: bool, bound: str | None = None,
                  extra: Iterable[str] = ()) -> tuple[str, ...] | None:
    """The Host names to answer (patterns: 'name' or '*.domain'); None means any."""
    names = [_normal(n) for n in extra if n.strip()]
    if "*" in names or (auth_enabled and not names):
        return None
    if bound is not None and bound.strip().strip("[]") not in WILDCARD_BINDS:
        names.append(_normal(bound))
    return (*LOOPBACK_NAMES, *names)


def host_allowed(header: str | None, allowed: tuple[str, ...] | None) -> bool:
    if allowed is None:
        return True
    host = host_of(header)
    if host is None:
        return False
    if is_loopback(host):
        return True
    for pattern in allowed:
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


class HostCheck:
    def __init__(self, app: ASGIApp, allowed: tuple[str, ...] | None) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or host_allowed(Headers(scope=scope).get("host"),
                                                    self.allowed):
            await self.app(scope, receive, send)
            return
        await PlainTextResponse(REFUSED, status_code=421)(scope, receive, send)


def _is_static(scope: Scope) -> bool:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):].startswith("/static/") if path.startswith(root) else False


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Static files may be cached but must be revalidated (they change with the package).
        cache = "no-cache" if _is_static(scope) else "no-store"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in (*HEADERS.items(), ("cache-control", cache)):
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
