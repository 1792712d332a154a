"""The MySQL store's pure parts: decisions, URL parsing, the script splitter. No server needed."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pgtask.errors import ConfigError
from pgtask.models import Outcome
from pgtask.resources import read_sql
from pgtask.store.mysql.rules import (
    HeldRow,
    RetryPolicy,
    backoff_seconds,
    refill,
    resolve_outcome,
    resolve_rescue,
    sql_time,
)
from pgtask.store.mysql.sql import in_list, split_script
from pgtask.store.mysql.store import connect_params

NOW = datetime(2026, 1, 2, 3, 4, 5, 600000)
POLICY = RetryPolicy(max_attempts=3, min_backoff=2.0, max_backoff=60.0, max_doublings=20,
                     backoff_jitter=0.0)
ROW = HeldRow(id=7, queue="default", attempt=1, max_attempts=None, worker_id="w1")


def outcome(kind, **kw) -> Outcome:
    return Outcome(7, uuid.uuid4(), kind, **kw)


@pytest.mark.parametrize("attempt, expected", [(1, 1), (2, 2), (3, 4), (8, 100), (50, 100)])
def test_backoff_doubles_then_caps(attempt, expected):
    assert backoff_seconds(attempt, 1, 100, 20, 0.0, 0.5) == expected


def test_backoff_doublings_are_bounded_and_jitter_spreads_both_ways():
    assert backoff_seconds(10, 1, 10_000, 3, 0.0, 0.0) == 8
    assert backoff_seconds(1, 10, 100, 20, 0.5, 0.0) == 7.5
    assert backoff_seconds(1, 10, 100, 20, 0.5, 1.0) == 12.5
    assert backoff_seconds(5, 10, 100, 20, 0.5, 1.0) == 100  # jitter never passes the cap


def test_token_bucket_refills_at_the_rate_up_to_the_burst():
    assert refill(0.0, 2.0, 5, 1.5) == 3.0
    assert refill(4.0, 2.0, 5, 10) == 5.0
    assert refill(1.0, 2.0, 5, -3) == 1.0  # a clock that went backwards adds nothing


def test_failed_is_requeued_after_the_backoff_with_an_error_entry():
    t = resolve_outcome(outcome("failed", error="boom"), ROW, POLICY, NOW, 0.5)
    assert (t.state, t.run_at, t.refund, t.message) == (
        "queued", NOW + timedelta(seconds=2), 0, None)
    assert t.entry == {"attempt": 1, "at": "2026-01-02T03:04:05.600000+00:00", "worker_id": "w1",
                       "error": "boom"}


def test_failed_with_an_explicit_delay_and_on_the_last_attempt():
    t = resolve_outcome(outcome("failed", delay=timedelta(seconds=9)), ROW, POLICY, NOW, 0.5)
    assert t.run_at == NOW + timedelta(seconds=9) and t.entry["error"] == "failed"
    last = HeldRow(7, "default", 3, None, "w1")
    assert resolve_outcome(outcome("failed"), last, POLICY, NOW, 0.5).state == "dead"
    own_max = HeldRow(7, "default", 2, 2, "w1")  # the task's own max_attempts wins
    assert resolve_outcome(outcome("failed"), own_max, POLICY, NOW, 0.5).state == "dead"


def test_succeeded_dead_snoozed_released():
    ok = resolve_outcome(outcome("succeeded", result={"a": 1}), ROW, None, NOW, 0.5)
    assert (ok.state, ok.result, ok.entry) == ("succeeded", {"a": 1}, None)
    dead = resolve_outcome(outcome("dead", error="bad"), ROW, None, NOW, 0.5)
    assert (dead.state, dead.message) == ("dead", "bad")
    snoozed = resolve_outcome(outcome("snoozed", delay=timedelta(seconds=3)), ROW, None, NOW, 0.5)
    assert (snoozed.state, snoozed.run_at, snoozed.refund) == (
        "queued", NOW + timedelta(seconds=3), 1)
    released = resolve_outcome(outcome("released"), ROW, None, NOW, 0.5)
    assert (released.run_at, released.refund, released.entry) == (NOW, 1, None)


def test_rescue_requeues_now_or_buries_on_the_last_attempt():
    assert resolve_rescue(ROW, 3, NOW).state == "queued"
    assert resolve_rescue(ROW, 1, NOW).state == "dead"
    assert resolve_rescue(ROW, 1, NOW).message.startswith("lease expired")


def test_transition_documents_leave_out_what_is_null():
    doc = resolve_outcome(outcome("succeeded"), ROW, None, NOW, 0.5).doc()
    assert doc == {"id": 7, "state": "succeeded", "refund": 0}


def test_sql_time_is_utc_without_offset():
    aware = datetime(2026, 1, 1, 12, 0, tzinfo=UTC) + timedelta(microseconds=5)
    assert sql_time(aware) == "2026-01-01 12:00:00.000005"
    assert sql_time(aware.astimezone()) == "2026-01-01 12:00:00.000005"


def test_connect_params_from_a_url():
    params = connect_params("mysql://app:p%40ss@db.internal:3307/queue?connect_timeout=5")
    assert params | {"charset": None} == {
        "host": "db.internal", "port": 3307, "user": "app", "password": "p@ss",
        "database": "queue", "connect_timeout": 5, "charset": None}
    assert connect_params("mariadb://root@127.0.0.1/x")["port"] == 3306


@pytest.mark.parametrize("url, message", [
    ("mysql://root:secret@host/", "no database name"),
    ("mysql://root:secret@host/db?sslmode=x", "unknown option 'sslmode'"),
    ("mysql://root:secret@host:99999/db", "bad port"),
])
def test_bad_urls_are_refused_without_the_password(url, message):
    with pytest.raises(ConfigError, match=message) as info:
        connect_params(url)
    assert "secret" not in str(info.value)


def test_in_list():
    assert in_list(3) == "%s, %s, %s"
    with pytest.raises(ValueError):
        in_list(0)


def test_split_script_honours_delimiters_and_comments():
    script = """-- heading; with a semicolon
CREATE TABLE a (
  x INT  -- a comment inside; not the end
);
-- a comment line;
DELIMITER $$
CREATE PROCEDURE p()
BEGIN
  SELECT 1;
END$$
DELIMITER ;
DROP TABLE a;
"""
    assert split_script(script) == [
        "CREATE TABLE a (\n  x INT  -- a comment inside; not the end\n)",
        "CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\nEND",
        "DROP TABLE a",
    ]


def test_split_script_refuses_an_unterminated_statement():
    with pytest.raises(ValueError, match="unterminated"):
        split_script("SELECT 1")


# sha256 of each released MySQL migration (frozen); tests/mysql/test_migrate_mysql.py checks
# that they build the same database as sql/mysql/pgtask.sql.
FROZEN = {
    "0001_initial.sql": "0a15dfb38419723214ddd1de0684f9b057092148e6b7cf0125d6475c1597261e",
    "0004_security.sql": "8c71ecaef8da97a767d704d1b9c4e56ce17035a70b20b0e82384cce6f00dfd8b",
    "0005_features.sql": "6a7b75c1df2ca0d63407b49c793e1e9a718b89c7b181297584e48c13791175df",
}


def test_released_migrations_stay_frozen():
    for name, digest in FROZEN.items():
        text = read_sql(f"mysql/migrations/{name}").encode()
        assert hashlib.sha256(text).hexdigest() == digest, f"{name} was edited after release"
