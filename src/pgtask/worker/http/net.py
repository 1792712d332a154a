"""The worker's HTTP clients: pooled httpx.AsyncClients, redirects off, and a connect-time
guard that checks every resolved address before the socket opens.

Checking the address at connect time (not just the name before the request) closes the DNS
rebinding gap: the address we check is the address we connect to. TLS still verifies the
certificate against the host name, because httpcore takes SNI from the request's origin.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable

import httpcore
import httpx

from pgtask.worker.http.egress import EgressPolicy, parse_address, refusal_hint, vet_address
from pgtask.worker.http.policy import TargetRefused, redact_url

Resolver = Callable[[str, int], Awaitable[list[str]]]
# httpcore's socket options (level, name, value), as its backends take them.
SocketOption = (tuple[int, int, int] | tuple[int, int, bytes | bytearray]
                | tuple[int, int, None, int])
# httpcore's pool scans every connection (a poll() syscall each) whenever a request starts or
# ends, so its cost per request grows with its size. Several small pools used in turn cost
# less: 50 requests in flight to a no-op server took 3.7-4.7 ms of CPU each through one pool
# of 50 connections, 1.4-1.8 ms through 13 pools of 4 (a loaded 2-CPU machine).
CONNECTIONS_PER_CLIENT = 4


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (as the OS resolver answers)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, once per connection; refuses the connection when any
    address fails the egress policy; then connects to a vetted address -- an IP literal,
    so nothing below resolves the name a second time."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, resolver: Resolver,
                 egress: EgressPolicy) -> None:
        self._inner = inner
        self._resolve = resolver
        self._egress = egress

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[SocketOption] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await self._addresses(host, port, timeout)
        for address in addresses:
            reason = vet_address(address, self._egress)
            if reason is not None:
                raise TargetRefused(f"target host {host} resolves to {address}, {reason}; "
                                    f"refused ({refusal_hint(reason)})")
        last: Exception | None = None
        for address in addresses:  # like the OS would: try each address in turn
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address,
                                                     socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host} resolves to no address")

    async def _addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        if parse_address(host) is not None:  # an address already: no DNS (a zone id kept)
            return [host]
        try:
            async with asyncio.timeout(timeout):
                return await self._resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror or exc}") from None

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[SocketOption] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class RedactUrls(logging.Filter):
    """httpx logs each request's full URL at INFO, credentials and query included; this
    rewrites those URLs the way pgtask prints them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(redact_url(a) if isinstance(a, httpx.URL) else a
                                for a in record.args)
        return True


def redact_httpx_logs() -> None:
    """Install RedactUrls on the httpx logger (once)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrls) for f in logger.filters):
        logger.addFilter(RedactUrls())


class ClientPool:
    """The shared HTTP clients of one worker process, handed out in turn."""

    def __init__(self, *, max_connections: int, egress: EgressPolicy, verify: bool = True,
                 resolver: Resolver = system_resolver,
                 network: httpcore.AsyncNetworkBackend | None = None) -> None:
        count = math.ceil(max_connections / CONNECTIONS_PER_CLIENT)
        size = math.ceil(max_connections / count)
        tls = httpx.create_ssl_context(verify=verify)  # loading the CA bundle takes ~0.1 s
        self.clients = [make_client(max_connections=size, egress=egress, verify=tls,
                                    resolver=resolver, network=network) for _ in range(count)]
        self._turn = itertools.cycle(self.clients)

    def next(self) -> httpx.AsyncClient:
        return next(self._turn)

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients))


def make_client(*, max_connections: int, egress: EgressPolicy,
                verify: bool | ssl.SSLContext = True, resolver: Resolver = system_resolver,
                network: httpcore.AsyncNetworkBackend | None = None) -> httpx.AsyncClient:
    """One pooled client, every connection vetted by the egress policy. No environment
    proxies: a proxy would resolve names itself and slip past the address guard. `network`
    is the backend under the guard (httpcore's own by default; tests pass one that records)."""
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=max_connections)
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)
    _guard(transport, GuardedBackend(network or transport._pool._network_backend, resolver,
                                     egress))
    redact_httpx_logs()
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)


def _guard(transport: httpx.AsyncHTTPTransport, backend: GuardedBackend) -> None:
    """Put the address guard under the transport's connections. httpx has no public hook for
    the network backend, so this reaches into httpx's own objects (pinned by the tests in
    tests/http): the transport's httpcore pool, and that pool's backend."""
    transport._pool._network_backend = backend
