"""PATCH /api/queues/{name}: the unstuck setting, max_run_time (issue 16, item 11)."""

from __future__ import annotations

from .conftest import make


def test_patch_sets_shows_and_clears_max_run_time(client, db):
    make(db, "queued", queue="emails")
    r = client.patch("/api/queues/emails", json={"max_run_time": "10m"})
    assert r.status_code == 200, r.text
    assert r.json()["max_run_time"] == 600.0
    listed = {q["name"]: q for q in client.get("/api/queues").json()["queues"]}
    assert listed["emails"]["max_run_time"] == 600.0
    r = client.patch("/api/queues/emails", json={"max_run_time": None})
    assert r.status_code == 200 and r.json()["max_run_time"] is None


def test_patch_refuses_a_max_run_time_under_a_second(client, db):
    make(db, "queued", queue="emails")
    r = client.patch("/api/queues/emails", json={"max_run_time": 0.5})
    assert r.status_code == 400
    assert "max_run_time must be from 1 second to 365 days" in r.json()["error"]["message"]


def settings_schemas(node):
    """Every schema of a max_run_time property in the OpenAPI document."""
    if isinstance(node, dict):
        if "max_run_time" in node and isinstance(node["max_run_time"], dict):
            yield node["max_run_time"]
        for value in node.values():
            yield from settings_schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from settings_schemas(value)


def test_openapi_describes_max_run_time_clearable_and_bounded(client):
    [schema] = list(settings_schemas(client.get("/openapi.json").json()))
    seconds, _text, null = schema["oneOf"]
    assert (seconds["minimum"], seconds["maximum"]) == (1, 365 * 86400)
    assert null == {"type": "null"}
