"""validation.py on its own: pure functions, no database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pgtask.web import queue_settings, validation
from pgtask.web.responses import ApiError


def test_task_request_builds_an_enqueue_request():
    req = validation.task_request({"type": "a.b", "payload": {"x": 1}, "queue": "q",
                                   "delay": "90s", "priority": -3, "idempotency_key": "k"})
    assert (req.task_type, req.queue, req.priority, req.idempotency_key) == ("a.b", "q", -3, "k")
    assert req.delay == timedelta(seconds=90) and req.payload == {"x": 1}


def test_payload_size_is_counted_as_postgres_prints_it():
    # 200,000 one-element lists: compact JSON fits in 1 MiB, jsonb's ", " form does not
    payload = {"a": [[1, 2]] * 200_000}
    with pytest.raises(ApiError) as caught:
        validation.task_request({"type": "a.b", "payload": payload})
    assert caught.value.status == 413


def test_list_query_defaults_and_values():
    assert validation.list_query([]) == {"state": None, "queue": None, "task_type": None,
                                         "after": None, "before": None, "limit": 100}
    q = validation.list_query([("state", "dead"), ("type", "a.b"), ("before", "10"),
                               ("limit", "5"), ("queue", "")])
    assert (q["state"], q["task_type"], q["before"], q["limit"], q["queue"]) == (
        "dead", "a.b", 10, 5, None)


def test_queue_patch_converts_units():
    paused, settings = queue_settings.queue_patch({"paused": True, "rate_limit": "120/m",
                                               "lease": "2m", "concurrency_limit": None})
    assert paused is True
    assert settings == {"rate_limit": 2.0, "lease": timedelta(minutes=2),
                        "concurrency_limit": None}


@pytest.mark.parametrize("raw", [b"1", b"null", b'"x"', b"{", b'{"a": Infinity}'])
def test_parse_json_object_refuses(raw):
    with pytest.raises(ApiError) as caught:
        validation.parse_json_object(raw)
    assert caught.value.status == 400
