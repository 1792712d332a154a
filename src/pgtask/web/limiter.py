"""The failed-login limit: after MAX_FAILURES wrong credentials from one client within
WINDOW seconds, that client is locked out for LOCKOUT seconds: every attempt to
authenticate (a right one too) is answered 429 with Retry-After, so guessing costs time
whatever the guesses are. Pure: the clock is injected, nothing here does I/O.

The key is the client's address as the server sees it (an IPv6 client by its /64, which is
what one host usually gets). Behind a reverse proxy every client shares the proxy's address
unless uvicorn is told to trust its X-Forwarded-For (--forwarded-allow-ips): a lock-out then
locks out everyone, which is the price of not letting one client guess without limit.

The table is in this process's memory (it resets with a restart) and holds at most
MAX_CLIENTS addresses: past that, expired entries go first, then the oldest.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_FAILURES, WINDOW, LOCKOUT = 5, 300.0, 300.0
MAX_CLIENTS = 10_000


def client_key(host: str | None) -> str:
    """The limiter's key for a client address: IPv4 as is, IPv6 by its /64."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # a unix socket path or a test client's name
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass
class _Client:
    failures: list[float] = field(default_factory=list)  # times, within the window
    locked_until: float = 0.0


class FailureLimiter:
    def __init__(self, max_failures: int = MAX_FAILURES, window: float = WINDOW,
                 lockout: float = LOCKOUT, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = MAX_CLIENTS) -> None:
        self.max_failures, self.window, self.lockout = max_failures, window, lockout
        self.clock, self.max_clients = clock, max_clients
        self._clients: dict[str, _Client] = {}

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until `key` may try again, or None when it may now."""
        client = self._clients.get(key)
        if client is None:
            return None
        wait = client.locked_until - self.clock()
        return math.ceil(wait) if wait > 0 else None

    def failed(self, key: str) -> None:
        """Count a wrong credential from `key`; the MAX_FAILURES-th in the window locks."""
        now = self.clock()
        client = self._clients.get(key)
        if client is None:
            self._make_room(now)
            client = self._clients[key] = _Client()
        client.failures = [t for t in client.failures if now - t < self.window] + [now]
        if len(client.failures) >= self.max_failures:
            client.locked_until = now + self.lockout
            client.failures = []  # after the lock-out, a fresh allowance

    def _make_room(self, now: float) -> None:
        if len(self._clients) < self.max_clients:
            return
        for key, client in list(self._clients.items()):
            if client.locked_until <= now and all(now - t >= self.window
                                                  for t in client.failures):
                del self._clients[key]
        while len(self._clients) >= self.max_clients:  # all live: drop the oldest
            del self._clients[next(iter(self._clients))]
