"""Test-only network pieces for the egress tests: a scripted resolver and a network backend
that records every address the egress guard connects to.

The recording backend sits under the guard (HttpDispatcher(network=...)), so what it sees is
exactly what would reach a socket. `route` sends chosen addresses to the local test target
instead -- a "public" address then answers from 127.0.0.1 without leaving the machine.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore


class ScriptedResolver:
    """Answers each lookup of a name with the next list of its script (the last one repeats),
    counting lookups: DNS as an attacker who controls a zone would arrange it."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        script = self._answers.get(host)
        if not script:
            raise OSError(f"no such test host {host}")
        return script.pop(0) if len(script) > 1 else script[0]


class RecordingNetwork(httpcore.AsyncNetworkBackend):
    def __init__(self, route: dict[str, str] | None = None) -> None:
        self.route = route or {}
        self.connects: list[str] = []
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[object] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        self.connects.append(host)
        return await self._inner.connect_tcp(self.route.get(host, host), port, timeout,
                                             local_address, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[object] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise AssertionError("the worker never connects to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
