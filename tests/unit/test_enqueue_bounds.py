"""The MySQL store's Python twin of pgtask.check_run_at and check_task's depth bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pgtask.models import EnqueueRequest
from pgtask.store.mysql.rules import check_timing, json_depth, payload_json

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def nested(depth: int) -> dict:
    value: object = 1
    for _ in range(depth - 2):
        value = [value]
    return {"a": value}


def test_depth_counts_as_mysql_does():
    assert [json_depth(v) for v in (1, [], {}, [1], {"a": {"b": 1}})] == [1, 1, 1, 2, 3]
    assert json_depth(nested(100)) == 100
    assert json_depth(nested(5000)) == 5000  # no recursion


def test_a_payload_deeper_than_100_levels_is_refused_before_it_is_serialised():
    payload_json(EnqueueRequest("t", nested(100)))
    with pytest.raises(ValueError, match="nested more than 100 levels deep"):
        payload_json(EnqueueRequest("t", nested(5000)))


@pytest.mark.parametrize("run_at", [datetime(1969, 12, 31, tzinfo=UTC),
                                    datetime.max.replace(tzinfo=UTC), NOW + timedelta(days=36_526)])
def test_run_at_out_of_range(run_at):
    with pytest.raises(ValueError, match="is out of range"):
        check_timing(EnqueueRequest("t", {}, run_at=run_at), NOW)


def test_run_at_and_delay_in_range_and_a_delay_past_100_years():
    check_timing(EnqueueRequest("t", {}, run_at=NOW + timedelta(days=36_000)), NOW)
    check_timing(EnqueueRequest("t", {}, delay=timedelta(days=1)), NOW)
    with pytest.raises(ValueError, match="delay must be at most 100 years"):
        check_timing(EnqueueRequest("t", {}, delay=timedelta(days=40_000)), NOW)
