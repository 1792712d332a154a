"""examples/fastapi_app.py and examples/starlette_app.py under a real uvicorn: a request
enqueues, the worker in the app's lifespan runs it; SIGTERM drains; a bad DSN stops start-up.

Before: pgtask.contrib.asgi did not exist (ImportError, the apps cannot start)."""

from __future__ import annotations

import signal

import psycopg
import pytest

from tests.asgi.servers import Server, post, uvicorn_app
from tests.support.waiting import SCALE, wait_until

APPS = {"fastapi": ("examples.fastapi_app:app", "/signup?email=ada@example.com"),
        "starlette": ("examples.starlette_app:app", "/reports")}


def _start(servers: list[Server], name: str, dsn: str) -> Server:
    server = uvicorn_app(APPS[name][0], dsn)
    servers.append(server)
    return server


def _enqueue(server: Server, name: str, seconds: float = 0) -> int:
    path = APPS[name][1]
    if name == "fastapi":
        response = post(server.url(f"{path}&seconds={seconds}"))
    else:
        response = post(server.url(path), json={"name": "q3", "seconds": seconds})
    return int(response.json()["task_id"])


@pytest.mark.parametrize("name", sorted(APPS))
def test_a_request_enqueues_and_the_app_process_runs_it(servers, dsn, task_state, name):
    server = _start(servers, name, dsn)
    task_id = _enqueue(server, name)
    wait_until(lambda: task_state(task_id) == "succeeded", message="the task to succeed")
    with psycopg.connect(dsn) as conn:
        worker_id, = conn.execute("select worker_id from pgtask.task_history where id = %s",
                                  (task_id,)).fetchone()
    assert worker_id.split(":")[1] == str(server.proc.pid)  # host:pid:nonce, this process


@pytest.mark.parametrize("name", sorted(APPS))
def test_sigterm_lets_the_running_task_finish_then_exits_0(servers, dsn, task_state, name):
    server = _start(servers, name, dsn)
    task_id = _enqueue(server, name, seconds=1.5)
    wait_until(lambda: task_state(task_id) == "running", message="the task to start")
    server.terminate()
    # uvicorn (0.29+) re-raises the signal once it has shut down cleanly, so that the exit
    # status says "ended by SIGTERM" (which systemd counts as a clean stop), not 0.
    assert server.wait(timeout=30 * SCALE) == -signal.SIGTERM, server.log()
    assert "Application shutdown complete" in server.log()
    assert task_state(task_id) == "succeeded"
    with psycopg.connect(dsn) as conn:  # it deregistered on the way out
        assert conn.execute("select count(*) from pgtask.workers").fetchone() == (0,)


def test_an_unmigrated_database_fails_the_app_start(servers, empty_dsn):
    server = _start(servers, "fastapi", empty_dsn)
    assert server.wait(timeout=30 * SCALE) != 0
    log = server.log()
    assert "Application startup failed" in log and "pgtask migrate" in log, log


def test_a_wrong_dsn_fails_the_app_start_without_its_password(servers, pg_server):
    dsn = (f"postgresql://{pg_server.user}:hunter2secret@{pg_server.host}:{pg_server.port}"
           "/pgtask_no_such_database")
    server = _start(servers, "starlette", dsn)
    assert server.wait(timeout=30 * SCALE) != 0
    log = server.log()
    assert "Application startup failed" in log and "pgtask_no_such_database" in log, log
    assert "hunter2secret" not in log
