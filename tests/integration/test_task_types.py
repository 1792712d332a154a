"""Task types in the database (issue 16, item 1) through the public surfaces: the README
tour's enqueue by name, a worker recording its definitions when it starts, `pgtask enqueue`
from another process taking them, and `pgtask tasks` listing them without --handlers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

import pgtask
from pgtask.registry import default_registry
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until


def pgtask_cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGTASK_DSN": dsn}
    return subprocess.run([sys.executable, "-m", "pgtask", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def hot(dsn: str, task_id: int) -> tuple[str, int, int | None]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select queue, priority, max_attempts from pgtask.tasks"
                           " where id = %s", (task_id,)).fetchone()
    assert row is not None
    return row


@pytest.fixture
def tour_task() -> Iterator[None]:
    """The README tour's declaration, in this process's default registry (removed after)."""

    @pgtask.task("emails.send", queue="emails", max_attempts=5, timeout=30,
                 title="Send an email")
    async def send_email(task):
        return {"sent": True}

    yield
    default_registry.tasks.pop("emails.send", None)


def test_the_readme_tour_puts_emails_send_on_queue_emails_with_5_attempts(dsn, tour_task):
    """Before any worker ran: the enqueue by name takes this process's declaration."""
    with psycopg.connect(dsn) as conn:
        task_id = pgtask.enqueue(conn, "emails.send", {"to": "a@b.c"})
    queue, _, attempts = hot(dsn, task_id)
    assert (queue, attempts) == ("emails", 5)


def test_explicit_options_win_over_the_declaration(dsn, tour_task):
    with psycopg.connect(dsn) as conn:
        task_id = pgtask.enqueue(conn, "emails.send", queue="default", max_attempts=2)
    assert hot(dsn, task_id) == ("default", 0, 2)


def registered(dsn: str, name: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select 1 from pgtask.task_types where name = %s",
                            (name,)).fetchone() is not None


def test_a_worker_records_its_types_and_other_processes_enqueue_with_them(dsn):
    registry = pgtask.Registry()
    ran = []

    @registry.task("reports.build", queue="reports", max_attempts=3, priority=5,
                   title="Build a report")
    def build(task):
        ran.append(task.id)

    with running_worker(dsn, registry, queues=["reports"]) as worker:
        wait_until(lambda: registered(dsn, "reports.build"), message="the definition")
        listed = pgtask_cli(dsn, "tasks")
        assert listed.returncode == 0, listed.stderr
        line = next(x for x in listed.stdout.splitlines() if "reports.build" in x)
        assert "Build a report" in line and "reports" in line and worker.id in line
        # another process, which never imported the handler module
        enqueued = pgtask_cli(dsn, "enqueue", "reports.build", "--payload", "{}")
        assert enqueued.returncode == 0, enqueued.stderr
        task_id = int(enqueued.stdout.strip())
        wait_until(lambda: task_id in ran, message="the worker on queue 'reports' to run it")
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select queue, priority, max_attempts, state::text"
                           " from pgtask.all_tasks where id = %s", (task_id,)).fetchone()
    assert row == ("reports", 5, 3, "succeeded")
    after = pgtask_cli(dsn, "tasks")  # the worker has gone: the type stays, unserved
    line = next(x for x in after.stdout.splitlines() if "reports.build" in x)
    assert "no live worker" in line


def test_the_http_api_enqueue_takes_the_registered_options(dsn):
    import warnings

    from pgtask.web import create_app
    from pgtask.web.auth import AuthConfig

    with warnings.catch_warnings():  # starlette suggests httpx2; httpx is what is installed
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    with psycopg.connect(dsn) as conn:
        conn.execute("select pgtask.register_task_types('w1', %s::jsonb)",
                     ('[{"name": "reports.build", "queue": "reports", "max_attempts": 3}]',))
    app = create_app(dsn, auth=AuthConfig(), insecure=True)
    with TestClient(app, base_url="http://localhost") as client:
        by_name = client.post("/api/tasks", json={"type": "reports.build"})
        explicit = client.post("/api/tasks", json={"type": "reports.build", "queue": "default"})
    assert by_name.status_code == 201, by_name.text
    assert (by_name.json()["queue"], hot(dsn, by_name.json()["id"])[2]) == ("reports", 3)
    assert explicit.json()["queue"] == "default"


def test_tasks_without_handlers_on_an_empty_registry_says_how_types_get_there(dsn):
    listed = pgtask_cli(dsn, "tasks")
    assert listed.returncode == 0, listed.stderr
    assert "no task types registered yet" in listed.stdout
