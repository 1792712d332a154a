"""The pure decisions behind a worker's start: the supervisor's restart back-off, which
connection failures are worth a retry, and which settings make progress impossible."""

from __future__ import annotations

import pytest

from pgtask.store.postgres.preflight import TRANSIENT, Settings, settings_problem
from pgtask.store.postgres.schema import connect_reason
from pgtask.worker.supervisor import after_exit, child_args


def half(_: float = 0) -> float:
    return 0.5


def test_crashes_in_a_row_back_off_and_a_healthy_run_resets():
    crashes, delays = 0, []
    for _ in range(5):
        decision = after_exit(-9, crashes, ran_for=1.0, served=False, healthy_after=60, rng=half)
        crashes = decision.crashes
        delays.append(decision.delay)
    assert delays == [0.375, 0.75, 1.5, 3.0, 6.0] and crashes == 5
    reset = after_exit(-9, crashes, ran_for=61.0, served=True, healthy_after=60, rng=half)
    assert (reset.stop, reset.crashes, reset.delay) == (False, 1, 0.375)


def test_the_delay_is_capped():
    assert after_exit(1, 40, 0.0, False, rng=lambda: 1.0).delay == 30.0


def test_a_refusal_stops_unless_the_slot_has_served():
    assert after_exit(2, 0, ran_for=0.5, served=False).stop
    # a slot that served before: its new child's refusal is likely an outage, so restart
    again = after_exit(2, 0, ran_for=0.5, served=True, rng=half)
    assert not again.stop and again.crashes == 1
    assert not after_exit(1, 0, ran_for=0.5, served=False).stop  # a crash, not a refusal


def test_child_args_drop_processes():
    argv = ["worker", "-p", "4", "--processes=3", "-p2", "--queue", "a", "--processes", "2"]
    assert child_args(argv) == ["worker", "--queue", "a"]


@pytest.mark.parametrize(("reason", "transient"), [
    ('connection to server at "h", port 1 failed: Connection refused; Is the server running', 1),
    ("FATAL: the database system is starting up", 1),
    ("FATAL: remaining connection slots are reserved for roles with the SUPERUSER attribute", 1),
    ("FATAL: sorry, too many clients already", 1),
    ('FATAL: database "x" does not exist', 0),
    ('FATAL: password authentication failed for user "app"', 0),
    ("server does not support SSL, but SSL was required", 0),
])
def test_which_connection_failures_are_retried(reason, transient):
    assert bool(TRANSIENT.search(reason)) is bool(transient)


def test_connect_reason_keeps_the_reason_on_one_line_and_masks_passwords():
    refused = Exception('connection failed: connection to server at "127.0.0.1", port 1 '
                        "failed: Connection refused\n\tIs the server running on that host?")
    assert connect_reason(refused, "host=127.0.0.1") == (
        'connection to server at "127.0.0.1", port 1 failed: Connection refused; '
        "Is the server running on that host?")
    malformed = Exception('missing "=" after "s3cret" in connection info string')
    assert "s3cret" not in connect_reason(malformed, "host=x password=s3cret x")
    assert "s3cret" not in connect_reason(Exception("x s3cret"), "postgresql://u:s3cret@h/d")


def settings(timeout_ms: int, source: str = "database", read_only: bool = False) -> Settings:
    return Settings(timeout_ms, f"{timeout_ms}ms", source, "app", "My DB", read_only, False)


def test_statement_timeout_below_a_second_is_refused_with_its_fix():
    assert settings_problem(settings(0), "db") is None
    assert settings_problem(settings(1000), "db") is None
    problem = settings_problem(settings(5), "db")
    assert problem is not None
    assert "statement_timeout is 5ms for role app on db" in problem
    assert 'ALTER DATABASE "My DB" SET statement_timeout = 0' in problem
    assert "ALTER ROLE app SET" in str(settings_problem(settings(5, "configuration file"), "db"))
    assert "IN DATABASE" in str(settings_problem(settings(5, "database user"), "db"))


def test_read_only_is_refused():
    assert "read-only" in str(settings_problem(settings(0, read_only=True), "db"))
