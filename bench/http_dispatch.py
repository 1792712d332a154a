"""Dispatches per second of HttpDispatcher.dispatch to a local no-op HTTP server.

    .venv/bin/python bench/http_dispatch.py [--tasks 20000] [--concurrency 50]

The server (uvicorn, a bare ASGI app answering 200 '{}') runs in its own process so it
does not share this one's CPU time or GIL; requests are signed as in production. No
database: this measures the HTTP side of a worker alone.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

from pgtask.models import ClaimedTask, QueuePolicy
from pgtask.worker.http import HttpConfig, HttpDispatcher, SigningSecret, new_secret

SERVER = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the no-op server did not start")


async def run(port: int, tasks: int, concurrency: int) -> tuple[float, float]:
    """(dispatches per second, CPU seconds of this process per dispatch)."""
    config = HttpConfig(secrets=(SigningSecret.parse(new_secret()),),
                        max_connections=concurrency,
                        allow_cidrs=(ipaddress.ip_network("127.0.0.1/32"),))  # the no-op server
    policy = QueuePolicy("bench", target_url=f"http://127.0.0.1:{port}/task")
    now = datetime.now(UTC)
    dispatcher = HttpDispatcher(config)
    dispatcher.use_database_id("bench")
    await dispatcher.open()
    failures: list[str] = []

    async def burst(count: int) -> None:
        """`count` dispatches, `concurrency` at a time."""
        todo = iter(range(1, count + 1))

        async def slot() -> None:
            for i in todo:
                task = ClaimedTask(i, "bench", "bench.noop", {"n": i}, 1, 5, uuid.uuid4(),
                                   now, now, now)
                result = await dispatcher.dispatch(task, policy)
                if result.kind != "succeeded":
                    failures.append(result.error)

        await asyncio.gather(*(slot() for _ in range(concurrency)))

    try:
        await burst(concurrency * 4)  # warm-up: open the connections
        started, cpu = time.perf_counter(), time.process_time()
        await burst(tasks)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if failures:
            print(f"{len(failures)} dispatches failed, e.g. {failures[0]}")
        return tasks / elapsed, cpu / tasks
    finally:
        await dispatcher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=os.environ)
    try:
        wait_for_port(port)
        rate, cpu = asyncio.run(run(port, args.tasks, args.concurrency))
    finally:
        server.terminate()
        server.wait(10)
    print(f"{args.tasks} dispatches, concurrency {args.concurrency}: {rate:,.0f} dispatches/s, "
          f"{cpu * 1e6:,.0f} us of dispatcher CPU per dispatch (load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
