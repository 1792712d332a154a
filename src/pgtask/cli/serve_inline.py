"""`pgtask worker --serve-port PORT`: the worker and `pgtask serve`'s dashboard in one process.

The "single binary" deployment: one process, one unit to supervise. The dashboard runs as
one of the worker's background services (worker/service.py), on the worker's event loop,
so the worker's own signal handling stops both: SIGTERM stops claiming, running tasks get
the shutdown timeout, the rest are released, and then the dashboard closes: it keeps
answering (API, dashboard, /metrics) while the worker drains.

The dashboard's options and rules are `pgtask serve`'s own: its --auth-file, --insecure,
--allowed-host and --session-ttl options are reused (not copied) and its web_app() makes
the same checks (credentials, or --insecure, before a non-loopback address).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import click

log = logging.getLogger("pgtask.web")

# The names of `pgtask serve`'s parameters that the worker takes over as they are.
SERVE_PARAMS = ("auth_file", "insecure", "allowed_hosts", "session_ttl")
OWN_PARAMS = ("serve_port", "serve_addr", *SERVE_PARAMS)
PROCESSES_REFUSAL = ("--serve-port runs the dashboard inside the worker's one process; with "
                     "--processes N run `pgtask serve` beside the supervisor instead")
SHUTDOWN_GRACE = 8.0  # uvicorn's own graceful timeout (5 s) for open connections, and more


def serve_inline_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --serve-port/--serve-addr and serve's auth options to `pgtask worker`.

    Their values stay out of the command's signature: serve_inline() reads them from the
    click context, so the worker's own code needs one line to use them."""
    from pgtask.cli.serve import serve

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for name in OWN_PARAMS:
            kwargs.pop(name, None)
        return command(*args, **kwargs)

    # The very Option objects `pgtask serve` declares, where click's decorators keep theirs
    # until the command is built (wraps() carried the list over from `command`).
    memo: list[click.Parameter] = wrapper.__dict__.setdefault("__click_params__", [])
    memo.extend(p for p in reversed(serve.params) if p.name in SERVE_PARAMS)
    wrapper = click.option(
        "--serve-addr", default="127.0.0.1", show_default=True,
        help="Address for --serve-port; other than loopback it needs credentials "
             "(PGTASK_WEB_TOKENS, PGTASK_WEB_BASIC, --auth-file) or --insecure.")(wrapper)
    return click.option(
        "--serve-port", type=click.IntRange(0, 65535), default=None,
        help="Also serve `pgtask serve`'s API, dashboard and /metrics from this process on "
             "this port (0: any free port); SIGTERM stops both, the dashboard after "
             "the drain.")(wrapper)


def serve_inline(url: str, processes: int) -> InlineServer | None:
    """The dashboard service `pgtask worker --serve-port` asked for, checked and bound now
    (a refusal or a port in use fails the command before the worker starts), or None."""
    params = click.get_current_context().params
    port: int | None = params.get("serve_port")
    if port is None:
        return None
    if processes > 1:
        raise click.UsageError(PROCESSES_REFUSAL)
    from pgtask.cli.serve import web_app

    addr: str = params["serve_addr"]
    app, _, auth_on = web_app(url, addr, params["auth_file"], params["insecure"],
                              params["allowed_hosts"], params["session_ttl"])
    try:
        sock = bind(addr, port)
    except OSError as exc:
        raise click.UsageError(f"--serve-port: cannot listen on {addr}:{port}: "
                               f"{exc.strerror or exc}") from None
    log.info("dashboard on http://%s:%d (auth: %s)", addr, sock.getsockname()[1],
             "on" if auth_on else "off", extra={"event": "serve.started"})
    return InlineServer(app, sock)


def bind(addr: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return socket.create_server((addr.strip("[]"), port), family=family)


@contextlib.contextmanager
def _no_signals() -> Iterator[None]:
    yield  # the worker's handlers own SIGTERM/SIGINT (cli/worker.py _run_worker)


class InlineServer:
    """A worker service (worker/service.py) running uvicorn on an already bound socket."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self.app = app
        self.sock = sock

    @property
    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    async def run(self, stopping: asyncio.Event) -> None:
        import uvicorn

        # log_config=None: uvicorn's loggers go through the worker's logging set-up.
        config = uvicorn.Config(self.app, log_config=None, server_header=False,
                                timeout_graceful_shutdown=5, lifespan="on")
        server = uvicorn.Server(config)
        server.capture_signals = _no_signals  # type: ignore[method-assign]
        serving = asyncio.create_task(server.serve(sockets=[self.sock]))
        try:
            # Not until `stopping`: the dashboard answers through the drain (to watch it);
            # the worker cancels its services once the drain is over (runner._shut_down).
            await asyncio.wait([serving])
        finally:
            server.should_exit = True
            await _finish(serving)
            self.sock.close()
        if isinstance(serving.exception(), SystemExit):  # uvicorn's word for a failed start
            raise RuntimeError("the dashboard failed to start (see above)")
        serving.result()
        if not stopping.is_set():
            raise RuntimeError("the dashboard stopped on its own")


async def _finish(serving: asyncio.Task[None]) -> None:
    """Let uvicorn shut down (close, drain connections, the app's lifespan), even though the
    worker stops its services by cancelling them, maybe before uvicorn's next tick (0.1 s)
    has seen should_exit: a cancel is held back until then, for SHUTDOWN_GRACE at most."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SHUTDOWN_GRACE
    cancelled = False
    while not serving.done() and (left := deadline - loop.time()) > 0:
        try:
            await asyncio.wait([serving], timeout=left)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    if not serving.done():
        raise RuntimeError("the dashboard did not stop in time")
