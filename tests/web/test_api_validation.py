"""Every refusal of bad input is a 4xx with a message that says what to fix."""

from __future__ import annotations

import json

import pytest

from pgtask.web.validation import MAX_BODY_BYTES

BAD_TASKS = [
    ({"payload": {}}, 400, "type"),
    ({"type": "Bad Name"}, 400, "type"),
    ({"type": 5}, 400, "type"),
    ({"type": "t.x", "queue": "UPPER"}, 400, "queue"),
    ({"type": "t.x", "queue": "x" * 129}, 400, "queue"),
    ({"type": "t.x", "payload": [1, 2]}, 400, "payload"),
    ({"type": "t.x", "payload": "text"}, 400, "payload"),
    ({"type": "t.x", "priority": 1001}, 400, None),
    ({"type": "t.x", "priority": "high"}, 400, "priority"),
    ({"type": "t.x", "priority": True}, 400, "priority"),
    ({"type": "t.x", "priority": 2**40}, 400, "priority"),
    ({"type": "t.x", "max_attempts": 0}, 400, None),
    ({"type": "t.x", "run_at": "tomorrow"}, 400, "run_at"),
    ({"type": "t.x", "run_at": "2030-01-01T00:00:00"}, 400, "run_at"),
    ({"type": "t.x", "run_at": "2030-01-01T00:00:00Z", "delay": 5}, 400, "delay"),
    ({"type": "t.x", "delay": -1}, 400, "delay"),
    ({"type": "t.x", "delay": "soon"}, 400, "delay"),
    ({"type": "t.x", "delay": 1e300}, 400, "delay"),
    ({"type": "t.x", "idempotency_key": ""}, 400, "idempotency_key"),
    ({"type": "t.x", "idempotency_key": "k" * 256}, 400, "idempotency_key"),
    ({"type": "t.x", "target_url": "ftp://x"}, 400, "target_url"),
    ({"type": "t.x", "colour": "red"}, 400, "colour"),
    ({"type": "t.x", "payload": {"a": "nul\u0000"}}, 400, None),
    ({"type": "t.x", "idempotency_key": "nul\u0000"}, 400, None),
]


@pytest.mark.parametrize("body, status, field", BAD_TASKS)
def test_bad_task_fields(client, body, status, field):
    r = client.post("/api/tasks", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"] and error["code"] == "invalid_request"
    if field:
        assert error["field"] == field


@pytest.mark.parametrize("raw, message", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"type": "t.x", "payload": {"n": NaN}}', "not valid JSON"),
    (b'{"type": "t.x", "payload": {"n": 1e400}}', "too large"),
    (b'{"type": "t.x", "payload": {"s": "\\ud800"}}', "surrogates"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"", "not valid JSON"),
])
def test_bad_json(client, raw, message):
    r = client.post("/api/tasks", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


def test_wrong_content_type_is_415(client):
    r = client.post("/api/tasks", content=b'{"type": "t.x"}',
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_oversized_payload_is_413(client):
    big = {"type": "t.x", "payload": {"blob": "x" * (1024 * 1024)}}
    r = client.post("/api/tasks", json=big)
    assert r.status_code == 413 and r.json()["error"]["field"] == "payload"


def test_oversized_body_is_refused_before_it_is_read(client):
    raw = json.dumps({"type": "t.x", "payload": {"blob": "x" * MAX_BODY_BYTES}}).encode()
    r = client.post("/api/tasks", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: the cap applies while reading
        for _ in range(40):
            yield b"x" * 65536

    r = client.post("/api/tasks", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("query, field", [
    ("state=sleeping", "state"), ("queue=Bad!", "queue"), ("type=%20", "type"),
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"),
    ("after=-5", "after"), ("after=1&before=5", "before"), ("sort=id", "sort"),
    ("limit=5&limit=6", "limit"), ("after=99999999999999999999", "after"),
])
def test_bad_list_parameters(client, query, field):
    r = client.get(f"/api/tasks?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


def test_unknown_route_and_method_are_json(client):
    assert client.get("/api/nothing").json()["error"]["code"] == "not_found"
    r = client.put("/api/tasks")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_endless_digits_are_a_400_not_a_crash(client):
    digits = "9" * 5000  # int() refuses more than 4,300 digits
    assert client.get(f"/api/tasks/{digits}").status_code == 400
    assert client.get(f"/api/tasks?after={digits}").status_code == 400
