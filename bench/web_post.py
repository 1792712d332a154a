"""Requests per second of POST /api/tasks under `pgtask serve` (uvicorn, one process).

    .venv/bin/python bench/web_post.py --dsn "host=127.0.0.1 user=postgres dbname=scratch"
    .venv/bin/python bench/web_post.py --url http://127.0.0.1:8080   # a server already running

Starts `pgtask serve` on a free loopback port (unless --url), then runs --clients concurrent
asyncio httpx clients, each posting one small task after another for --seconds, and prints
requests/s and latency percentiles. Every answer must be 201.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time

import httpx


async def client(url: str, deadline: float, latencies: list[float], errors: list[int]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        n = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            r = await http.post("/api/tasks", json={"type": "bench.web", "payload": {"n": n}})
            latencies.append(time.perf_counter() - started)
            if r.status_code != 201:
                errors.append(r.status_code)
            n += 1


async def load(url: str, clients: int, seconds: float) -> None:
    async with httpx.AsyncClient(base_url=url) as http:  # warm up the pool and the route
        for _ in range(50):
            (await http.post("/api/tasks", json={"type": "bench.web"})).raise_for_status()
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(*(client(url, started + seconds, latencies, errors)
                           for _ in range(clients)))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    print(f"POST /api/tasks: {len(latencies) / elapsed:,.0f} requests/s "
          f"({len(latencies):,} in {elapsed:.1f}s, {clients} clients); latency ms "
          f"p50 {q[49] * 1000:.1f} p95 {q[94] * 1000:.1f} p99 {q[98] * 1000:.1f}; "
          f"non-201: {len(errors)}")


def serve(dsn: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "pgtask", "serve", "--dsn", dsn,
                             "--port", str(port), "--log-level", "warning"])
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("pgtask serve did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn")
    parser.add_argument("--url")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if not (args.url or args.dsn):
        parser.error("give --dsn (start a server) or --url (use a running one)")
    proc, url = (None, args.url) if args.url else serve(args.dsn)
    try:
        asyncio.run(load(url, args.clients, args.seconds))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
