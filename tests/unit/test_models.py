"""pgtask.models: name and range validation, kept in step with the SQL schema."""

from __future__ import annotations

import pytest

from pgtask.models import (
    MAX_ATTEMPTS_RANGE,
    MAX_PAYLOAD_BYTES,
    NAME_PATTERN,
    PRIORITY_RANGE,
    TaskRecord,
    TaskState,
    validate_max_attempts,
    validate_name,
    validate_priority,
)
from pgtask.resources import read_sql

SCHEMA = read_sql("postgres/pgtask.sql")


@pytest.mark.parametrize("name", [
    "a", "0", "default", "emails.send", "billing:invoices", "a-b_c.d:e", "x" * 128, "9lives",
])
def test_valid_names(name):
    assert validate_name("queue", name) == name


@pytest.mark.parametrize("name", [
    "", "Emails", "-lead", "_lead", ".lead", ":lead", "x" * 129, "a b", "tab\t", "name\n",
    "ünïcode", "a/b", "a;drop", None, 5, b"bytes",
])
def test_invalid_names(name):
    with pytest.raises(ValueError, match="invalid task type") as info:
        validate_name("task type", name)
    assert "a-z 0-9 _ . : -" in str(info.value)


def test_invalid_name_message_shows_the_value():
    with pytest.raises(ValueError, match=r"invalid queue 'Bad Queue'"):
        validate_name("queue", "Bad Queue")


@pytest.mark.parametrize("priority", [-1000, -1, 0, 1, 1000])
def test_valid_priorities(priority):
    assert validate_priority(priority) == priority


@pytest.mark.parametrize("priority", [-1001, 1001, 40000, 1.5, "1", None, True, False])
def test_invalid_priorities(priority):
    with pytest.raises(ValueError, match="priority must be an integer from -1000 to 1000"):
        validate_priority(priority)


@pytest.mark.parametrize("max_attempts", [None, 1, 20, 1000])
def test_valid_max_attempts(max_attempts):
    assert validate_max_attempts(max_attempts) == max_attempts


@pytest.mark.parametrize("max_attempts", [0, -1, 1001, 2.0, "3", True])
def test_invalid_max_attempts(max_attempts):
    with pytest.raises(ValueError, match="max_attempts must be an integer from 1 to 1000"):
        validate_max_attempts(max_attempts)


def test_limits_match_the_sql_schema():
    """The Python checks and the SQL constraints must refuse the same input."""
    assert NAME_PATTERN.pattern in SCHEMA
    low, high = PRIORITY_RANGE
    assert f"priority between {low} and {high}" in SCHEMA
    low, high = MAX_ATTEMPTS_RANGE
    assert f"max_attempts between {low} and {high}" in SCHEMA
    assert f"octet_length(payload::text) <= {MAX_PAYLOAD_BYTES}" in SCHEMA


def test_task_state_values_and_finished():
    assert [s.value for s in TaskState] == ["queued", "running", "succeeded", "dead", "cancelled"]
    assert [s for s in TaskState if s.finished] == [
        TaskState.SUCCEEDED, TaskState.DEAD, TaskState.CANCELLED]
    assert TaskState("dead") is TaskState.DEAD and TaskState.DEAD == "dead"
    assert f"{TaskState.RUNNING}" == "running"


def test_task_record_defaults_are_not_shared():
    one = TaskRecord(id=1, queue="q", task_type="t", state=TaskState.QUEUED, payload={})
    two = TaskRecord(id=2, queue="q", task_type="t", state=TaskState.QUEUED, payload={})
    one.errors.append({"error": "x"})
    assert two.errors == [] and one.attempt == 0 and one.result is None
