"""`pgtask worker --serve-port`: the worker and `pgtask serve`'s dashboard in one process.

Before: no such option ("No such option: --serve-port", exit 2)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import httpx
import psycopg

from tests.asgi.servers import ROOT, Server
from tests.support.waiting import SCALE, wait_until

WORKER = ["pgtask", "worker", "--handlers", "tests.asgi.slow_tasks", "--shutdown-timeout",
          "20s"]


def _enqueue(dsn: str, seconds: float) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        task_id, = conn.execute("select pgtask.enqueue_task('asgi.nap', %s::jsonb)",
                                (f'{{"seconds": {seconds}}}',)).fetchone()
    return int(task_id)


def _pgtask(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgtask", *args, "--dsn", dsn],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_the_dashboard_answers_while_the_worker_drains_and_sigterm_stops_both(
        servers, dsn, task_state, tmp_path):
    server = Server([*WORKER, "--serve-port", "0"], dsn)
    servers.append(server)
    assert httpx.get(server.url("/healthz"), timeout=10).status_code == 200
    quick = [_enqueue(dsn, 0) for _ in range(5)]
    wait_until(lambda: all(task_state(t) == "succeeded" for t in quick), message="5 tasks")
    workers = httpx.get(server.url("/api/workers"), timeout=10).json()
    assert [w["pid"] for w in workers["workers"]] == [server.proc.pid]  # itself, one process
    release = tmp_path / "release"
    with psycopg.connect(dsn, autocommit=True) as conn:
        slow, = conn.execute("select pgtask.enqueue_task('asgi.hold', %s::jsonb)",
                             (json.dumps({"release": str(release)}),)).fetchone()
    wait_until(lambda: task_state(slow) == "running", message="the held task to start")
    server.terminate()
    wait_until(lambda: "stopping" in server.log(), message="the worker to start draining")
    # Before: the dashboard closed at SIGTERM, so this request found nobody listening.
    assert httpx.get(server.url("/healthz"), timeout=10).status_code == 200
    assert task_state(slow) == "running"
    release.touch()
    assert server.wait(timeout=30 * SCALE) == 0, server.log()
    assert task_state(slow) == "succeeded"
    assert "stopped" in server.log()


def test_a_non_loopback_address_needs_credentials_as_serve_does(dsn):
    done = _pgtask(*WORKER[1:], "--serve-port", "0", "--serve-addr", "0.0.0.0", dsn=dsn)
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 without authentication" in done.stderr


def test_processes_are_refused_with_a_reason(dsn):
    done = _pgtask(*WORKER[1:], "--serve-port", "0", "--processes", "2", dsn=dsn)
    assert done.returncode == 2
    assert "run `pgtask serve` beside the supervisor" in done.stderr


def test_a_port_in_use_fails_before_the_worker_starts(dsn):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = _pgtask(*WORKER[1:], "--serve-port", str(port), dsn=dsn)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from pgtask.workers").fetchone() == (0,)


def test_an_idle_worker_stops_the_dashboard_cleanly(servers, dsn):
    # Nothing to drain: the worker is done in milliseconds, before uvicorn's next tick.
    server = Server([*WORKER, "--serve-port", "0"], dsn)
    servers.append(server)
    assert httpx.get(server.url("/healthz"), timeout=10).status_code == 200
    server.terminate()
    assert server.wait(timeout=30 * SCALE) == 0, server.log()
    log = server.log()
    assert "Application shutdown complete" in log and "Traceback" not in log, log
