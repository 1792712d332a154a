"""Screenshot the dashboard while `pgtask demo` runs: docs/dashboard.png.

    .venv/bin/python scripts/dashboard-screenshot.py "host=127.0.0.1 user=postgres dbname=scratch"

Runs `pgtask demo --tasks 20000` against the (scratch) DSN in the background, `pgtask serve`
against the same database, waits until the demo queue is draining, and has headless
Chromium (Debian's /usr/bin/chromium) take the picture.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PGTASK = [sys.executable, "-m", "pgtask"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def main(dsn: str, out: Path = ROOT / "docs" / "dashboard.png") -> None:
    demo = subprocess.Popen([*PGTASK, "demo", "--dsn", dsn, "--tasks", "20000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = None
    try:
        def migrated() -> bool:
            stats = subprocess.run([*PGTASK, "stats", "--dsn", dsn], capture_output=True)
            return stats.returncode == 0

        wait_for(migrated, 60, "the demo to migrate")
        serve = subprocess.Popen([*PGTASK, "serve", "--dsn", dsn, "--port", str(port),
                                  "--log-level", "warning"])

        def draining() -> bool:
            try:
                queues = httpx.get(f"{url}/api/queues", timeout=2).json()["queues"]
            except (httpx.HTTPError, ValueError):
                return False
            demo_q = next((q for q in queues if q["name"] == "demo"), None)
            return bool(demo_q and demo_q["stats"].get("queued", 0) > 2000
                        and demo_q["stats"]["completed_per_second"]["s10"] > 0)

        wait_for(draining, 120, "the demo queue to drain")
        time.sleep(3)  # a few seconds of throughput in the sparkline
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--no-first-run", "--hide-scrollbars",
                            f"--user-data-dir={profile}", "--window-size=1400,1150",
                            f"--screenshot={out}", f"{url}/"],
                           check=True, capture_output=True, timeout=60)
        print(f"wrote {out}")
    finally:
        for proc in (serve, demo):
            if proc is not None:
                proc.terminate()
                proc.wait(30)


if __name__ == "__main__":
    main(sys.argv[1])
