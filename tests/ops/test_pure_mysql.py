"""The pure parts of the MySQL operations: queue policy checks as configure_queue makes them,
rows shaped as Postgres's are (no database needed)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pgtask.errors import ConfigError
from pgtask.store.mysql.inspect import plain, where
from pgtask.store.mysql.queue_settings import apply_settings, check_request, pg_interval, pg_number

DEFAULTS = {"concurrency_limit": None, "rate_limit": None, "rate_burst": 1, "max_attempts": 20,
            "min_backoff": 1.0, "max_backoff": 3600.0, "max_doublings": 20,
            "backoff_jitter": 0.2, "lease": 30.0, "target_url": None, "dispatch_deadline": 30.0,
            "max_run_time": None}


def test_numbers_and_intervals_print_as_postgres_prints_them():
    assert [pg_number(v) for v in (2.0, 0.1, 1e20, 2.5)] == ["2", "0.1", "1e+20", "2.5"]
    assert [pg_interval(s) for s in (0.1, 1, 45, 3600, 90000, 0.000001)] == \
        ["00:00:00.1", "00:00:01", "00:00:45", "01:00:00", "25:00:00", "00:00:00.000001"]


@pytest.mark.parametrize("settings, message", [
    ({"concurrency_limit": 0}, "concurrency_limit must be at least 1, got 0"),
    ({"rate_limit": 0.0}, "rate_limit must be a positive number of tasks per second, got 0"),
    ({"rate_limit": float("inf")}, "rate_limit must be a positive number"),
    ({"rate_burst": 0}, "rate_burst must be at least 1, got 0"),
    ({"max_attempts": 1001}, "max_attempts must be from 1 to 1000, got 1001"),
    ({"lease": 0.0}, "min_backoff, lease and dispatch_deadline must be positive "
                     "(got 00:00:01, 00:00:00, 00:00:30)"),
    ({"min_backoff": 7200.0},
     "max_backoff (01:00:00) must not be shorter than min_backoff (02:00:00)"),
    ({"max_doublings": 61}, "max_doublings must be from 0 to 60, got 61"),
    ({"backoff_jitter": 1.5}, "backoff_jitter must be from 0 to 1, got 1.5"),
    ({"target_url": "ftp://x"}, "target_url must start with http:// or https://"),
])
def test_apply_settings_refuses_what_configure_queue_refuses(settings, message):
    with pytest.raises(ConfigError) as refused:
        apply_settings(DEFAULTS, settings)
    assert message in str(refused.value)


def test_apply_settings_changes_only_what_is_given():
    policy = apply_settings(DEFAULTS, {"rate_limit": 5.0, "lease": 45.0})
    # A rate given without a burst comes with one second's worth of it.
    assert policy == {**DEFAULTS, "rate_limit": 5.0, "rate_burst": 5, "lease": 45.0}
    assert apply_settings(policy, {"rate_limit": None})["rate_limit"] is None


def test_check_request_refuses_names_unknown_settings_and_clearing():
    with pytest.raises(ConfigError, match="invalid queue name 'Bad'"):
        check_request("Bad", {})
    with pytest.raises(ConfigError, match="unknown queue setting\\(s\\): colour, size"):
        check_request("q", {"size": 1, "colour": 2})
    with pytest.raises(ConfigError, match="lease cannot be cleared"):
        check_request("q", {"lease": None})
    check_request("q", {"rate_limit": None, "max_attempts": 3})


def test_plain_rows_look_like_postgres_rows():
    row = plain({"payload": '{"a": 1}', "errors": "[]", "paused": 1, "queued": Decimal("3"),
                 "lag": 1.5, "run_at": datetime(2030, 1, 1), "name": "q", "result": None})
    assert row == {"payload": {"a": 1}, "errors": [], "paused": True, "queued": 3, "lag": 1.5,
                   "run_at": datetime(2030, 1, 1, tzinfo=UTC), "name": "q", "result": None}
    assert type(row["queued"]) is int
    assert where() == ("TRUE", [])
    assert where(state="dead", queue=None, task_type="t") == ("state = %s AND task_type = %s",
                                                              ["dead", "t"])
