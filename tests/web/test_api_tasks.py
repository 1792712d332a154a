"""/api/tasks: enqueue, idempotent repeats, lookups, keyset pages, retry and cancel."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from .conftest import enqueue, finish, make


def test_enqueue_returns_201_with_the_task(client, db):
    r = client.post("/api/tasks", json={
        "type": "emails.send", "payload": {"to": "a@b.c"}, "queue": "emails", "priority": 5,
        "max_attempts": 3, "target_url": "https://example.test/hook"})
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["type"] == "emails.send" and task["queue"] == "emails"
    assert task["payload"] == {"to": "a@b.c"} and task["state"] == "queued"
    assert task["priority"] == 5 and task["max_attempts"] == 3
    assert r.headers["location"] == f"/api/tasks/{task['id']}"
    row = db.execute("select * from pgtask.tasks where id = %s", (task["id"],)).fetchone()
    assert row["target_url"] == "https://example.test/hook"


def test_run_at_and_delay_use_the_given_time(client, db):
    at = datetime(2040, 1, 2, 3, 4, 5, tzinfo=UTC)
    r = client.post("/api/tasks", json={"type": "t.x", "run_at": "2040-01-02T03:04:05Z"})
    assert datetime.fromisoformat(r.json()["run_at"]) == at
    r = client.post("/api/tasks", json={"type": "t.x", "delay": "1h"})
    task = r.json()
    run_at = datetime.fromisoformat(task["run_at"]) - datetime.fromisoformat(task["created_at"])
    assert timedelta(minutes=59) < run_at <= timedelta(hours=1)
    r = client.post("/api/tasks", json={"type": "t.x", "delay": 30})
    assert r.status_code == 201


def test_idempotent_repeat_returns_the_same_task_with_200(client):
    body = {"type": "t.x", "payload": {"n": 1}, "idempotency_key": "order-42"}
    first = client.post("/api/tasks", json=body)
    again = client.post("/api/tasks", json={**body, "payload": {"n": 2}})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["payload"] == {"n": 1}
    other_queue = client.post("/api/tasks", json={**body, "queue": "other"})
    assert other_queue.status_code == 201


def test_idempotent_repeat_of_a_finished_task_is_200(client, db):
    first = client.post("/api/tasks", json={"type": "t.x", "idempotency_key": "k"}).json()
    finish(db, first["id"], "succeeded")
    again = client.post("/api/tasks", json={"type": "t.x", "idempotency_key": "k"})
    assert again.status_code == 200 and again.json()["state"] == "succeeded"


def test_concurrent_idempotent_enqueues_create_exactly_once(client):
    """Eight threads race on one key: one 201, seven 200s, all the same id."""
    results, barrier = [], threading.Barrier(8)

    def post() -> None:
        barrier.wait()
        r = client.post("/api/tasks", json={"type": "t.x", "idempotency_key": "race"})
        results.append((r.status_code, r.json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(code for code, _ in results) == [200] * 7 + [201]
    assert len({task_id for _, task_id in results}) == 1


def test_get_task_has_logs_attempts_and_chain(client, db):
    parent = enqueue(db)
    child = enqueue(db, "t.child")
    db.execute("update pgtask.tasks set parent_id = %s where id = %s", (parent, child))
    db.execute("select pgtask.append_logs(array[%s]::bigint[], array[1], array[now()], "
               "array['info'], array['hello'])", (parent,))
    r = client.get(f"/api/tasks/{parent}")
    assert r.status_code == 200
    task = r.json()
    assert task["id"] == parent and task["type"] == "t.x"
    assert [line["message"] for line in task["logs"]] == ["hello"]
    assert task["http_attempts"] == [] and task["group"] is None
    assert [c["id"] for c in task["children"]] == [child]


@pytest.mark.parametrize("path, status", [("/api/tasks/999999", 404), ("/api/tasks/abc", 400),
                                          ("/api/tasks/0", 400), ("/api/tasks/-1", 400),
                                          ("/api/tasks/99999999999999999999", 400)])
def test_get_unknown_or_malformed_task(client, path, status):
    r = client.get(path)
    assert r.status_code == status
    assert r.json()["error"]["message"]


def test_pagination_returns_each_task_once(client, db):
    ids = db.execute("select id from pgtask.enqueue_tasks(array_fill('t.x'::text, array[250])) id"
                     ).fetchall()
    expected = [r["id"] for r in ids]
    for task_id in expected[::7]:
        finish(db, task_id, "succeeded")  # half in history: pages span both tables
    seen, url, pages = [], "/api/tasks?limit=40", 0
    while url:
        body = client.get(url).json()
        seen += [t["id"] for t in body["tasks"]]
        url, pages = body["next_url"], pages + 1
    assert seen == sorted(expected) and pages == 7
    first = client.get("/api/tasks").json()
    assert len(first["tasks"]) == 100 and first["next"] == first["tasks"][-1]["id"]
    newest = client.get("/api/tasks?before=999999999&limit=10").json()
    assert [t["id"] for t in newest["tasks"]] == sorted(expected, reverse=True)[:10]
    older = client.get(newest["next_url"]).json()
    assert older["tasks"][0]["id"] == newest["tasks"][-1]["id"] - 1


def test_list_filters(client, db):
    a = make(db, "dead", task_type="a.x", queue="qa")
    make(db, "queued", task_type="a.x", queue="qb")
    make(db, "succeeded", task_type="b.x", queue="qa")
    found = client.get("/api/tasks?state=dead&queue=qa&type=a.x").json()["tasks"]
    assert [t["id"] for t in found] == [a]
    assert len(client.get("/api/tasks?queue=qa").json()["tasks"]) == 2


def test_retry_a_dead_task_requeues_it(client, db):
    dead = make(db, "dead")
    r = client.post(f"/api/tasks/{dead}/retry")
    assert r.status_code == 200 and r.json()["state"] == "queued"
    again = client.post(f"/api/tasks/{dead}/retry")
    assert again.status_code == 409
    assert "only dead or cancelled" in again.json()["error"]["message"]


def test_cancel_with_a_reason_then_conflict(client, db):
    queued = make(db, "queued")
    r = client.post(f"/api/tasks/{queued}/cancel", json={"reason": "not needed"})
    assert r.status_code == 200
    assert r.json()["state"] == "cancelled" and r.json()["message"] == "not needed"
    assert client.post(f"/api/tasks/{queued}/cancel").status_code == 409
    succeeded = make(db, "succeeded")
    assert client.post(f"/api/tasks/{succeeded}/retry").status_code == 409


def test_retry_and_cancel_unknown_tasks_are_404(client):
    assert client.post("/api/tasks/424242/retry").status_code == 404
    assert client.post("/api/tasks/424242/cancel").status_code == 404


def test_cancel_refuses_unknown_fields(client, db):
    queued = make(db, "queued")
    r = client.post(f"/api/tasks/{queued}/cancel", json={"why": "x"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "why"
