"""Issue 15 (9): the OpenAPI document says what the server answers. Each operation is sent
good and bad requests; every answer's status must be documented for that operation, with
its media type, required fields and headers (Location, Retry-After). Requests generated
from the document itself: test_openapi_schemathesis.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pgtask.web import create_app
from pgtask.web.auth import AuthConfig

from .conftest import (
    ADMIN_TOKEN,
    AUTH,
    LOOPBACK,
    READ_TOKEN,
    TestClient,
    bearer,
    make,
)

ADMIN = bearer(ADMIN_TOKEN)
JSON_TEXT = {**ADMIN, "Content-Type": "text/plain"}


@pytest.fixture
def doc(secured) -> dict[str, Any]:
    return secured.get("/openapi.json", headers=ADMIN).json()


def conforms(doc: dict[str, Any], method: str, path: str, r: httpx.Response) -> None:
    """`r` answers `method path` (a path template) as the document says it may."""
    op = doc["paths"][path][method.lower()]
    status = str(r.status_code)
    assert status in op["responses"], f"{method} {path}: {status} undocumented ({r.text[:200]})"
    spec = op["responses"][status]
    media = r.headers.get("content-type", "").split(";")[0]
    if "content" in spec:
        assert media in spec["content"], f"{method} {path} {status}: {media} undocumented"
        schema = spec["content"][media]["schema"]
        if media == "application/json":
            body = r.json()
            for key in schema.get("required", []):
                assert key in body, f"{method} {path} {status}: no {key!r} in {body}"
            if "error" in schema.get("required", []):
                assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    for header in spec.get("headers", {}):
        assert header.lower() in r.headers, f"{method} {path} {status}: no {header} header"


def exchanges(c: TestClient, db) -> Iterator[tuple[str, str, httpx.Response]]:
    """(method, path template, response) for good and bad requests to every operation."""
    dead, queued, done = make(db, "dead"), make(db, "queued"), make(db, "succeeded")
    fresh, running = make(db, "queued"), make(db, "running")
    tasks, one = "/api/tasks", "/api/tasks/{id}"
    retry, cancel = "/api/tasks/{id}/retry", "/api/tasks/{id}/cancel"
    queue = "/api/queues/{name}"
    yield "POST", tasks, c.post(tasks, json={"type": "t.x", "idempotency_key": "k"}, headers=ADMIN)
    yield "POST", tasks, c.post(tasks, json={"type": "t.x", "idempotency_key": "k"}, headers=ADMIN)
    yield "POST", tasks, c.post(tasks, json={"type": "t.x", "priority": 3.0, "delay": None},
                                headers=ADMIN)
    yield "POST", tasks, c.post(tasks, json={"type": "Bad Name"}, headers=ADMIN)
    yield "POST", tasks, c.post(tasks, content=b"{}", headers=JSON_TEXT)
    yield "POST", tasks, c.post(tasks, content=b"{}", headers={**ADMIN, "Content-Length": "9" * 9})
    yield "POST", tasks, c.post(tasks, json={"type": "t.x"}, headers=bearer(READ_TOKEN))
    yield "POST", tasks, c.post(tasks, json={"type": "t.x"})
    for query in ("", "?state=dead&limit=1", "?type=&queue=", "?state=nope", "?after=1&before=2"):
        yield "GET", tasks, c.get(tasks + query, headers=ADMIN)
    for task_id in (dead, 0, 987654):
        yield "GET", one, c.get(f"/api/tasks/{task_id}", headers=ADMIN)
    for task_id in (dead, queued, 0, 987654):
        yield "POST", retry, c.post(f"/api/tasks/{task_id}/retry", headers=ADMIN)
    yield "POST", cancel, c.post(f"/api/tasks/{queued}/cancel", json={"reason": "r"}, headers=ADMIN)
    yield "POST", cancel, c.post(f"/api/tasks/{done}/cancel", headers=ADMIN)
    yield "POST", cancel, c.post(f"/api/tasks/{queued}/cancel", json={"reason": ""}, headers=ADMIN)
    yield "POST", cancel, c.post(f"/api/tasks/{queued}/cancel", content=b"x", headers=JSON_TEXT)
    yield "POST", cancel, c.post(f"/api/tasks/{queued}/cancel", json={"reason": "x" * 20000},
                                 headers=ADMIN)
    yield "POST", cancel, c.post("/api/tasks/0/cancel", headers=ADMIN)
    yield "PATCH", one, c.patch(f"/api/tasks/{fresh}", json={"priority": 5}, headers=ADMIN)
    yield "PATCH", one, c.patch(f"/api/tasks/{fresh}", json={"priority": 5000}, headers=ADMIN)
    yield "PATCH", one, c.patch(f"/api/tasks/{fresh}", json={}, headers=ADMIN)
    yield "PATCH", one, c.patch(f"/api/tasks/{fresh}", content=b"{}", headers=JSON_TEXT)
    yield "PATCH", one, c.patch(f"/api/tasks/{done}", json={"priority": 1}, headers=ADMIN)
    yield "PATCH", one, c.patch("/api/tasks/987654", json={"priority": 1}, headers=ADMIN)
    yield "PATCH", one, c.patch(f"/api/tasks/{fresh}", json={"priority": 1},
                                headers=bearer(READ_TOKEN))
    yield "DELETE", one, c.delete(f"/api/tasks/{running}", headers=ADMIN)
    yield "DELETE", one, c.delete(f"/api/tasks/{fresh}", headers=bearer(READ_TOKEN))
    yield "DELETE", one, c.delete(f"/api/tasks/{fresh}", headers=ADMIN)
    yield "DELETE", one, c.delete(f"/api/tasks/{fresh}", headers=ADMIN)
    yield "DELETE", one, c.delete("/api/tasks/0", headers=ADMIN)
    for query in ("", "?queue=default&limit=1", "?before=0", "?state=dead"):
        yield "GET", "/api/errors", c.get("/api/errors" + query, headers=ADMIN)
    yield "GET", "/api/queues", c.get("/api/queues", headers=ADMIN)
    yield "GET", "/api/workers", c.get("/api/workers", headers=ADMIN)
    yield "PATCH", queue, c.patch("/api/queues/default", json={"paused": True}, headers=ADMIN)
    yield "PATCH", queue, c.patch("/api/queues/default", json={"lease": 1}, headers=ADMIN)
    yield "PATCH", queue, c.patch("/api/queues/default", json={}, headers=ADMIN)
    yield "PATCH", queue, c.patch("/api/queues/default", content=b"{}", headers=JSON_TEXT)
    yield "PATCH", queue, c.patch("/api/queues/nope", json={"paused": True}, headers=ADMIN)
    yield "PATCH", queue, c.patch("/api/queues/default", json={"paused": True},
                                  headers=bearer(READ_TOKEN))
    yield "GET", "/healthz", c.get("/healthz")
    yield "GET", "/metrics", c.get("/metrics", headers=ADMIN)
    yield "GET", "/metrics", c.get("/metrics")
    yield "GET", "/openapi.json", c.get("/openapi.json", headers=ADMIN)
    yield "GET", "/openapi.json", c.get("/openapi.json")


def test_every_answer_is_documented(secured, db, doc):
    seen = set()
    for method, path, r in exchanges(secured, db):
        conforms(doc, method, path, r)
        seen.add((method.lower(), path))
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == seen  # every operation was exercised


def test_the_lock_out_and_an_unreachable_database_are_documented(dsn, doc):
    with TestClient(create_app(dsn, auth=AUTH), client=("10.9.9.9", 1)) as c:
        for n in range(5):
            c.get("/api/tasks", headers=bearer(f"wrong-{n}"))
        for path, ops in doc["paths"].items():
            for method in ops:
                url = path.replace("{id}", "1").replace("{name}", "default")
                r = c.request(method.upper(), url, headers=ADMIN)
                assert r.status_code == 429, (method, path)
                conforms(doc, method, path, r)
    app = create_app("host=127.0.0.1 port=1 user=nobody dbname=x", auth=AuthConfig(), insecure=True,
                     db_timeout=1.0)
    with TestClient(app, base_url=LOOPBACK) as c:
        for path in ("/api/tasks", "/api/queues", "/api/workers", "/healthz", "/metrics"):
            r = c.get(path)
            assert r.status_code == 503, path
            conforms(doc, "GET", path, r)


def test_405_names_every_method_of_the_path(client):
    r = client.request("OPTIONS", "/api/tasks")
    assert r.status_code == 405
    assert {"GET", "POST"} <= {m.strip() for m in r.headers["allow"].split(",")}
