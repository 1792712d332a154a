"""/api/queues, /api/workers, /healthz and /openapi.json."""

from __future__ import annotations

import pytest
from starlette.routing import Mount

from pgtask.web import create_app
from pgtask.web.auth import AuthConfig

from .conftest import LOOPBACK, TestClient, make


def test_queues_show_policy_and_live_counts(client, db):
    make(db, "queued", queue="emails")
    make(db, "queued", queue="emails")
    make(db, "dead", queue="emails")
    queues = {q["name"]: q for q in client.get("/api/queues").json()["queues"]}
    emails = queues["emails"]
    assert emails["paused"] is False and emails["max_attempts"] == 20
    assert emails["lease"] == 30.0  # durations in seconds
    assert emails["stats"]["queued"] == 2 and emails["stats"]["dead_last_hour"] == 1


def test_patch_pauses_and_sets_limits(client, db):
    make(db, "queued", queue="emails")
    r = client.patch("/api/queues/emails", json={
        "paused": True, "concurrency_limit": 5, "rate_limit": "10/m", "rate_burst": 3,
        "min_backoff": "2s", "max_backoff": 600, "lease": "1m", "backoff_jitter": 0.5,
        "target_url": "https://example.test/x"})
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["paused"] is True and q["concurrency_limit"] == 5 and q["rate_burst"] == 3
    assert q["rate_limit"] == pytest.approx(10 / 60)
    assert (q["min_backoff"], q["max_backoff"], q["lease"]) == (2.0, 600.0, 60.0)
    r = client.patch("/api/queues/emails", json={"paused": False, "concurrency_limit": None,
                                                 "target_url": None})
    q = r.json()
    assert q["paused"] is False and q["concurrency_limit"] is None and q["target_url"] is None


@pytest.mark.parametrize("body, status, text", [
    ({}, 400, "nothing to change"),
    ({"paused": "yes"}, 400, "paused"),
    ({"speed": 1}, 400, "unknown field"),
    ({"max_attempts": None}, 400, "cannot be cleared"),
    ({"concurrency_limit": 0}, 400, "concurrency_limit"),
    ({"rate_limit": "fast"}, 400, "rate"),
    ({"rate_limit": -1}, 400, "rate_limit"),
    ({"min_backoff": "10s", "max_backoff": "1s"}, 400, "max_backoff"),
    ({"max_doublings": 61}, 400, "max_doublings"),
    ({"backoff_jitter": 2}, 400, "backoff_jitter"),
    ({"lease": "forever"}, 400, "lease"),
    ({"target_url": "gopher://x"}, 400, "target_url"),
])
def test_patch_refusals(client, db, body, status, text):
    make(db, "queued", queue="emails")
    r = client.patch("/api/queues/emails", json=body)
    assert r.status_code == status, r.text
    assert text in r.json()["error"]["message"]
    assert client.get("/api/queues").json()["queues"][0]["paused"] is False  # nothing changed


def test_patch_unknown_or_bad_queue(client):
    assert client.patch("/api/queues/nosuch", json={"paused": True}).status_code == 404
    assert client.patch("/api/queues/Bad%20Name", json={"paused": True}).status_code == 400


def test_workers(client, db):
    db.execute("select pgtask.register_worker('w-1', 'host-a', 42, array['emails'], null, 8)")
    workers = client.get("/api/workers").json()["workers"]
    assert [(w["id"], w["host"], w["pid"], w["concurrency"], w["alive"]) for w in workers] == [
        ("w-1", "host-a", 42, 8, True)]


def test_healthz_ok(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_healthz_unmigrated_database_is_503(empty_dsn):
    app = create_app(empty_dsn, auth=AuthConfig(), insecure=True)
    with TestClient(app, base_url=LOOPBACK) as c:
        r = c.get("/healthz")
    assert r.status_code == 503 and r.json()["schema"] == "unmigrated"


def test_healthz_unreachable_database_is_503():
    app = create_app("host=127.0.0.1 port=1 user=nobody password=hunter2 dbname=x",
                     auth=AuthConfig(), insecure=True, db_timeout=1.0)
    with TestClient(app, base_url=LOOPBACK) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and r.json()["database"] == "unreachable"
        assert "hunter2" not in r.text
        api = c.get("/api/tasks")
    assert api.status_code == 503 and "hunter2" not in api.text


def test_openapi_describes_every_api_route(client):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    app = client.app
    while not hasattr(app, "routes"):  # through the middleware stack to the router
        app = app.app
    for route in app.routes:
        if isinstance(route, Mount) or not route.path.startswith(("/api", "/healthz")):
            continue
        for method in route.methods - {"HEAD"}:
            assert method.lower() in doc["paths"][route.path], (method, route.path)


def test_mounted_under_a_prefix(dsn, db):
    from starlette.applications import Starlette

    make(db, "dead")
    parent = Starlette(routes=[Mount("/pgtask", create_app(dsn, auth=AuthConfig(), insecure=True))])
    with TestClient(parent, base_url=LOOPBACK) as c:
        assert c.get("/pgtask/api/tasks").json()["tasks"]
        page = c.get("/pgtask/")
        assert page.status_code == 200
        assert 'href="/pgtask/static/dashboard.css"' in page.text
        assert 'data-action="/pgtask/api/tasks/' in page.text
        assert c.get("/pgtask/static/dashboard.js").status_code == 200
