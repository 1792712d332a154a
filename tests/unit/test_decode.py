"""store/postgres/decode.py's pure parts: JSON that cannot be loaded becomes RawJson, and an
out-of-range timestamp is clamped on the side it fell off."""

from __future__ import annotations

import json

import pytest

from pgtask.store.postgres.decode import _below, load_json, text_depth
from pgtask.undecodable import MAX_JSON_DEPTH, RawJson, undecodable


def nested(n: int) -> str:
    return '{"a": ' + "[" * (n - 1) + "]" * (n - 1) + "}"


@pytest.mark.parametrize(("text", "reason"), [
    (nested(5000), "nested deeper than 100 levels"),
    (nested(MAX_JSON_DEPTH + 1), "nested deeper than 100 levels"),
    ('{"a": ' + "7" * 5000 + "}", "a number with more digits than Python converts (4300)"),
    ('{"a": 1' + "0" * 400 + ".5}", "a number beyond the range of a float"),
])
def test_what_python_cannot_load_is_kept_as_text(text, reason):
    value = load_json(text.encode())
    assert isinstance(value, RawJson)
    assert value == text and value.reason == reason
    assert json.dumps({"payload": value})  # a face can still print it


@pytest.mark.parametrize("text", [nested(MAX_JSON_DEPTH), '{"a": [1, 2.5, "x", null]}',
                                  "[" + ", ".join(["{}"] * 500) + "]", '"text"', "12"])
def test_what_it_can_load_is_loaded(text):
    assert load_json(text) == json.loads(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("1", 0), ("[]", 1), ('{"a": [{}]}', 3), ('{"a": "[[[{{{"}', 1), ('["\\"[[", []]', 2),
    ('[{"k]": "v\\\\"}, [[]]]', 3), ("[" * 50_000 + "]" * 50_000, 50_000),
])
def test_depth_is_counted_on_the_text_outside_strings(text, expected):
    assert text_depth(text.encode()) == expected


@pytest.mark.parametrize(("data", "binary", "below"), [
    (b"-infinity", False, True), (b"infinity", False, False),
    (b"4714-11-24 00:00:00+00 BC", False, True), (b"12000-01-01 00:00:00+00", False, False),
    ((-2**63).to_bytes(8, "big", signed=True), True, True),
    ((2**63 - 1).to_bytes(8, "big", signed=True), True, False),
])
def test_out_of_range_side(data, binary, below):
    assert _below(data, binary) is below


def test_a_claimed_task_with_a_raw_payload_is_undecodable():
    from datetime import UTC, datetime
    from uuid import uuid4

    from pgtask.models import ClaimedTask

    now = datetime.now(UTC)
    task = ClaimedTask(1, "default", "t", {}, 1, 3, uuid4(), now, now, now)
    assert undecodable(task) is None
    task.payload = load_json(nested(200))
    assert undecodable(task) == "payload cannot be decoded: nested deeper than 100 levels"
