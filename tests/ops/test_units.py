"""Rates and durations as operators type them."""

from datetime import timedelta

import pytest

from pgtask.cli.units import format_duration, format_rate, parse_rate


@pytest.mark.parametrize("text, expected", [
    ("100/s", 100.0), ("10/m", 10 / 60), ("3600/h", 1.0), ("5", 5.0), ("0.5/sec", 0.5),
    (" 2 / min ", 2 / 60), ("7/hour", 7 / 3600),
])
def test_parse_rate(text, expected):
    assert parse_rate(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "fast", "10/x", "-1/s", "0/s", "1e3/s", "/s"])
def test_parse_rate_refuses_nonsense(text):
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


@pytest.mark.parametrize("seconds, expected", [
    (0.5, "500ms"), (30, "30s"), (300, "5m"), (3600, "1h"), (5400, "1h30m"), (7 * 86400, "7d"),
    (0, "0s"), (1.25, "1250ms"),
])
def test_format_duration(seconds, expected):
    assert format_duration(timedelta(seconds=seconds)) == expected


@pytest.mark.parametrize("per_second, expected", [
    (100, "100/s"), (1, "1/s"), (10 / 60, "10/m"), (1 / 3600, "1/h"), (2.5, "2.5/s"),
])
def test_format_rate(per_second, expected):
    assert format_rate(per_second) == expected
