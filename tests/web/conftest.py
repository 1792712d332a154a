"""Fixtures for the web tests: the app on a fresh database, clients with and without
credentials, and tasks put into any state through the SQL API."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator

import psycopg
import pytest

with warnings.catch_warnings():  # starlette suggests httpx2; httpx is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from pgtask.web import create_app
from pgtask.web.auth import AuthConfig, basic, token
from tests.ops.conftest import run_cli  # noqa: F401  (the CLI runner fixture)

ADMIN_TOKEN, READ_TOKEN = "admin-secret-token", "read-secret-token"
ALICE_PW, BOB_PW = "wonder:land-of-tea", "builder-of-things"  # 12+ characters (auth.py)
AUTH = AuthConfig((token("admin", ADMIN_TOKEN), token("read", READ_TOKEN),
                   basic("alice", ALICE_PW, "admin"), basic("bob", BOB_PW, "read")))
LOOPBACK = "http://localhost"  # without auth the app answers only to loopback names


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def basic_header(user: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


@pytest.fixture
def client(dsn: str) -> Iterator[TestClient]:
    """The app without authentication (as on loopback), like curl: no cookies kept."""
    with TestClient(create_app(dsn, auth=AuthConfig(), insecure=True, refresh_seconds=0.2),
                    base_url=LOOPBACK) as c:
        yield c


@pytest.fixture
def secured(dsn: str) -> Iterator[TestClient]:
    """The app with AUTH's tokens and users."""
    with TestClient(create_app(dsn, auth=AUTH)) as c:
        yield c


def enqueue(db: psycopg.Connection, task_type: str = "t.x", queue: str = "default",
            **kw) -> int:
    args = ", ".join(f"{k} => %({k})s" for k in kw)
    query = f"select pgtask.enqueue_task(%(t)s, queue => %(q)s{', ' + args if args else ''}) as id"
    return db.execute(query, {"t": task_type, "q": queue, **kw}).fetchone()["id"]


def claim(db: psycopg.Connection, task_id: int) -> dict:
    """Claim exactly `task_id` (it is given top priority first)."""
    db.execute("update pgtask.tasks set priority = 1000 where id = %s", (task_id,))
    row = db.execute("select * from pgtask.claim_task(null, 'w1', 1)").fetchone()
    assert row and row["id"] == task_id
    return row


def finish(db: psycopg.Connection, task_id: int, state: str, error: str = "boom") -> None:
    """Move a queued task to running, succeeded, dead or cancelled."""
    if state == "cancelled":
        assert db.execute("select pgtask.cancel_task(%s) as ok", (task_id,)).fetchone()["ok"]
        return
    row = claim(db, task_id)
    if state == "succeeded":
        db.execute("select pgtask.complete_task(%s, %s, '{\"ok\": 1}')",
                   (task_id, row["lease_token"]))
    elif state == "dead":
        db.execute("select pgtask.fail_task(%s, %s, %s, permanent => true)",
                   (task_id, row["lease_token"], error))
    elif state == "failed":  # one failed attempt; it will retry
        db.execute("select pgtask.fail_task(%s, %s, %s)", (task_id, row["lease_token"], error))


def make(db: psycopg.Connection, state: str, **kw) -> int:
    task_id = enqueue(db, **kw)
    if state != "queued":
        finish(db, task_id, state)
    return task_id
