"""Issue 16, items 11 and 12 over HTTP: PATCH and DELETE /api/tasks/{id} (admin only, a
queued task only), GET /api/errors, and create_app refusing to run without credentials
unless told insecure=True."""

from __future__ import annotations

import logging

import pytest

from pgtask.errors import ConfigError
from pgtask.web import create_app
from pgtask.web.auth import AuthConfig

from .conftest import ADMIN_TOKEN, AUTH, LOOPBACK, READ_TOKEN, TestClient, bearer, finish, make

ADMIN, READ = bearer(ADMIN_TOKEN), bearer(READ_TOKEN)


def hot(db, task_id: int) -> dict | None:
    return db.execute("select * from pgtask.tasks where id = %s", (task_id,)).fetchone()


def test_patch_changes_a_queued_task(secured, db):
    task_id = make(db, "queued")
    r = secured.patch(f"/api/tasks/{task_id}", headers=ADMIN,
                      json={"payload": {"to": "b@c.d"}, "priority": 7, "queue": "emails",
                            "max_attempts": 3, "run_at": "2030-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["queue"], body["priority"], body["payload"]) == (
        task_id, "emails", 7, {"to": "b@c.d"})
    assert body["run_at"].startswith("2030-01-01T00:00:00")
    row = hot(db, task_id)
    assert (row["queue"], row["priority"], row["max_attempts"]) == ("emails", 7, 3)
    r = secured.patch(f"/api/tasks/{task_id}", headers=ADMIN, json={"run_at": None})
    assert r.status_code == 200 and hot(db, task_id)["run_at"] < row["run_at"]


def test_patch_answers_409_404_400_and_403_as_it_should(secured, db):
    running, done, queued = make(db, "running"), make(db, "succeeded"), make(db, "queued")
    for task_id, state in ((running, "running"), (done, "succeeded")):
        r = secured.patch(f"/api/tasks/{task_id}", headers=ADMIN, json={"priority": 1})
        assert r.status_code == 409
        assert r.json()["error"]["message"] == (
            f"task {task_id} is {state}: only a queued task can be updated")
    assert secured.patch("/api/tasks/987654", headers=ADMIN,
                         json={"priority": 1}).status_code == 404
    for body in ({"priority": 5000}, {"colour": "red"}, {}, {"payload": []},
                 {"run_at": "tomorrow"}, {"run_at": None, "delay": "5m"}):
        r = secured.patch(f"/api/tasks/{queued}", headers=ADMIN, json=body)
        assert r.status_code == 400, (body, r.text)
    r = secured.patch(f"/api/tasks/{queued}", headers=READ, json={"priority": 1})
    assert r.status_code == 403 and hot(db, queued)["priority"] == 0


def test_delete_removes_a_queued_task_and_refuses_others(secured, db):
    queued, running = make(db, "queued"), make(db, "running")
    assert secured.delete(f"/api/tasks/{queued}", headers=READ).status_code == 403
    r = secured.delete(f"/api/tasks/{queued}", headers=ADMIN)
    assert r.status_code == 204 and r.content == b""
    assert secured.get(f"/api/tasks/{queued}", headers=ADMIN).status_code == 404
    assert secured.delete(f"/api/tasks/{queued}", headers=ADMIN).status_code == 404
    r = secured.delete(f"/api/tasks/{running}", headers=ADMIN)
    assert r.status_code == 409 and "is running" in r.json()["error"]["message"]
    assert hot(db, running)["state"] == "running"


def test_errors_lists_tasks_that_failed_at_least_once_newest_first(secured, db):
    retrying = make(db, "queued", queue="billing")
    finish(db, retrying, "failed", error="ValueError: negative total")
    dead = make(db, "dead")
    make(db, "succeeded")
    r = secured.get("/api/errors", headers=READ)
    assert r.status_code == 200
    tasks = r.json()["tasks"]
    assert [(t["id"], t["state"], t["failures"]) for t in tasks] == [
        (dead, "dead", 1), (retrying, "queued", 1)]
    assert tasks[1]["error"] == "ValueError: negative total" and tasks[1]["type"] == "t.x"
    page = secured.get("/api/errors?limit=1", headers=READ).json()
    assert [t["id"] for t in page["tasks"]] == [dead] and page["next"] == dead
    following = secured.get(page["next_url"], headers=READ).json()
    assert [t["id"] for t in following["tasks"]] == [retrying] and following["next"] is None
    only = secured.get("/api/errors?queue=billing", headers=READ).json()
    assert [t["id"] for t in only["tasks"]] == [retrying]
    assert secured.get("/api/errors?state=dead", headers=READ).status_code == 400


def test_create_app_without_credentials_refuses_unless_insecure(dsn, monkeypatch, caplog):
    for name in ("PGTASK_WEB_TOKENS", "PGTASK_WEB_BASIC", "PGTASK_WEB_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as refused:
        create_app(dsn)
    message = str(refused.value)
    assert "PGTASK_WEB_TOKENS" in message and "insecure=True" in message
    with pytest.raises(ConfigError):
        create_app(dsn, auth=AuthConfig())
    with caplog.at_level(logging.WARNING, logger="pgtask.web"):
        app = create_app(dsn, insecure=True)
    assert "no authentication" in caplog.text
    with TestClient(app, base_url=LOOPBACK) as c:
        assert c.get("/api/tasks").status_code == 200
    monkeypatch.setenv("PGTASK_WEB_TOKENS", f"admin:{ADMIN_TOKEN}")
    with TestClient(create_app(dsn)) as c:  # credentials from the environment: no flag needed
        assert c.get("/api/tasks").status_code == 401
        assert c.get("/api/tasks", headers=ADMIN).status_code == 200


def test_create_app_with_credentials_serves_any_host(dsn):
    with TestClient(create_app(dsn, auth=AUTH), base_url="http://dash.example") as c:
        assert c.get("/api/tasks", headers=ADMIN).status_code == 200
