"""Issue 16, item 10 and the "flagged" unregistered types: a queue whose tasks wait says
why in `pgtask top`, `pgtask stats` and the dashboard."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import psycopg
import pytest

import pgtask
from pgtask.web import create_app
from pgtask.web.auth import AuthConfig
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until

with warnings.catch_warnings():  # starlette suggests httpx2; httpx is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def cli(dsn: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pgtask", *args], capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "PGTASK_DSN": dsn, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def dashboard(dsn: str) -> str:
    app = create_app(dsn, auth=AuthConfig(), insecure=True, refresh_seconds=0.2)
    with TestClient(app, base_url="http://localhost") as client:
        return client.get("/ui/live").text


def test_a_type_no_worker_registered_on_a_queue_no_worker_serves(dsn):
    with psycopg.connect(dsn) as conn:
        pgtask.enqueue(conn, "orphan.job", queue="orphans")
    for face in (cli(dsn, "top", "--once"), cli(dsn, "stats"), dashboard(dsn)):
        assert "never registered by a worker: orphan.job" in face
        assert "no live worker serves this queue" in face


@pytest.mark.slow  # a worker starts and stops
def test_paused_queue_and_a_registered_type_its_live_worker_does_not_run(dsn):
    registry = pgtask.Registry()

    @registry.task("current.job", queue="jobs")
    def current(task):
        return None

    with psycopg.connect(dsn) as conn:
        conn.execute("select pgtask.register_task_types('old-deploy', %s::jsonb)",
                     ('[{"name": "retired.job", "queue": "jobs"}]',))
        pgtask.enqueue(conn, "retired.job")
        conn.execute("select pgtask.set_queue_paused('jobs', true)")
    with running_worker(dsn, registry, queues=["jobs"]):
        wait_until(lambda: "current.job" in cli(dsn, "tasks"), message="the worker's row")
        for face in (cli(dsn, "top", "--once"), cli(dsn, "stats"), dashboard(dsn)):
            assert "paused; no live worker runs retired.job" in face
            assert "never registered" not in face
