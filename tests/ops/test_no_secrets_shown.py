"""URLs are stored as given but never shown with their credentials or query values: a password
and a token planted in a queue's target and in a task's own target_url (and its follow-up's)
appear in no output of any face — CLI, console, web API, dashboard."""

from __future__ import annotations

import warnings

import pytest

import pgtask
from pgtask.web import create_app
from pgtask.web.auth import AuthConfig

with warnings.catch_warnings():  # starlette suggests httpx2; httpx is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

QUEUE_URL = "https://hookuser:QueuePassw0rd@hooks.example/in?token=QueueTok3n&v=1#QueueFrag"
TASK_URL = "https://taskuser:TaskPassw0rd@api.example/x?token=TaskTok3n"
FOLLOW_UP_URL = "https://fu:FollowPassw0rd@api.example/next?sig=FollowTok3n"
POSTED_URL = "https://api.example/posted?api_key=PostedTok3n"
SECRETS = ("QueuePassw0rd", "QueueTok3n", "QueueFrag", "TaskPassw0rd", "TaskTok3n",
           "FollowPassw0rd", "FollowTok3n", "PostedTok3n", "hookuser", "taskuser")


def shown_secrets(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.fixture
def planted(run_cli, dsn, db):
    """The queue 'hooks' targets QUEUE_URL (set through the CLI, whose output is a face too:
    returned with the task's id); a task on it has TASK_URL and a follow-up FOLLOW_UP_URL."""
    queue_set = run_cli("queue", "set", "hooks", "--target-url", QUEUE_URL, "--dsn", dsn)
    assert queue_set.code == 0, queue_set.err
    task_id = pgtask.enqueue(db, "hooks.call", {"n": 1}, queue="hooks", target_url=TASK_URL,
                             then=pgtask.follow_up("hooks.next", target_url=FOLLOW_UP_URL))
    [stored] = db.execute("select target_url, on_success from pgtask.tasks where id = %s",
                          (task_id,)).fetchall()
    assert stored["target_url"] == TASK_URL  # stored whole: the worker needs it
    assert stored["on_success"][0]["target_url"] == FOLLOW_UP_URL
    assert db.execute("select target_url from pgtask.queues where name = 'hooks'"
                      ).fetchone()["target_url"] == QUEUE_URL
    return task_id, queue_set.out + queue_set.err


def test_no_cli_or_console_face_shows_a_url_secret(run_cli, dsn, planted):
    planted, queue_set = planted
    leaks = {"queue set": shown_secrets(queue_set)}
    faces = {
        "queue ls": ("queue", "ls"),
        "show": ("show", str(planted)),
        "show --json": ("show", str(planted), "--json"),
        "ls": ("ls",),
        "ls --json": ("ls", "--json"),
        "top --json": ("top", "--json"),
        "top --once": ("top", "--once"),
    }
    for face, args in faces.items():
        result = run_cli(*args, "--dsn", dsn)
        assert result.code == 0, (face, result.err)
        leaks[face] = shown_secrets(result.out + result.err)
    leaked = sorted(face for face, found in leaks.items() if found)
    assert not leaked, f"faces showing a secret: {leaked}"
    shown = run_cli("show", str(planted), "--dsn", dsn).out
    assert "https://***@api.example/x?token=***" in shown  # shown redacted, not dropped
    assert "https://***@hooks.example/in?token=***&v=***" in run_cli("queue", "ls", "--dsn",
                                                                     dsn).out


def test_no_web_face_shows_a_url_secret(dsn, planted):
    planted, _ = planted
    app = create_app(dsn, auth=AuthConfig(), insecure=True, refresh_seconds=0.2)
    with TestClient(app, base_url="http://localhost") as client:
        posted = client.post("/api/tasks", json={"type": "t.x", "target_url": POSTED_URL})
        assert posted.status_code == 201, posted.text
        patched = client.patch("/api/queues/hooks", json={"paused": True})
        assert patched.status_code == 200, patched.text
        leaks = {"POST /api/tasks": shown_secrets(posted.text),
                 "PATCH /api/queues/hooks": shown_secrets(patched.text)}
        pages = ("/api/queues", "/api/tasks", f"/api/tasks/{planted}", "/api/workers", "/",
                 "/ui/live", f"/tasks/{planted}", f"/ui/tasks/{planted}")
        for path in pages:
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:200])
            leaks[path] = shown_secrets(response.text)
        leaked = sorted(face for face, found in leaks.items() if found)
        assert not leaked, f"faces showing a secret: {leaked}"
        assert posted.json()["target_url"] == "https://api.example/posted?api_key=***"
        api = client.get(f"/api/tasks/{planted}").json()
        assert api["target_url"] == "https://***@api.example/x?token=***"
        assert api["on_success"][0]["target_url"] == "https://***@api.example/next?sig=***"
