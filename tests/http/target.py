"""A real HTTP target for tests: uvicorn on 127.0.0.1 (port 0) in a thread, scripted by the test.

The test sets `responder(req) -> Reply` (default: 200 with a small JSON body). The server
records every request and counts requests in flight, so tests can assert on what a target
saw -- or did not see.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    delay: float = 0.0  # seconds to wait before answering ("hang": a large value)


class TargetServer:
    def __init__(self, **tls: str) -> None:
        """`tls`: uvicorn's ssl_certfile and ssl_keyfile, to serve HTTPS."""
        self.requests: list[Seen] = []
        self.responder: Callable[[Seen], Reply] = lambda seen: Reply()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        config = uvicorn.Config(self._app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="off", access_log=False, interface="asgi3",
                                timeout_graceful_shutdown=1, **tls)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> TargetServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test HTTP server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    @property
    def port(self) -> int:
        return self._server.servers[0].sockets[0].getsockname()[1]

    def url(self, path: str = "/task") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _app(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        seen = Seen(scope["path"], headers, body, time.monotonic())
        with self._lock:
            self.requests.append(seen)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self.responder(seen)
            if reply.delay:
                try:  # hold the answer back, unless the client gives up first
                    message = await asyncio.wait_for(receive(), timeout=reply.delay)
                    if message["type"] == "http.disconnect":
                        return
                except TimeoutError:
                    pass
            payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
            await send({"type": "http.response.start", "status": reply.status,
                        "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()]})
            await send({"type": "http.response.body", "body": payload})
        finally:
            with self._lock:
                self.in_flight -= 1
