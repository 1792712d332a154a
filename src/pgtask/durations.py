"""Parse the durations and rates people type: 500ms, 30s, 5m, 1h, 7d (or plain seconds);
100/s, 10/m, 3600/h (or a plain number per second)."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(text: str) -> timedelta:
    """'30s' -> 30 seconds; a bare number is seconds. Raises ValueError with the accepted forms."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"invalid duration {text!r}: use e.g. 500ms, 30s, 5m, 1h, 7d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])

_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min|h|hour))?$")
_RATE_SECONDS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600}


def parse_rate(text: str) -> float:
    """'100/s', '10/m', '3600/h' or a plain number per second -> tasks per second (> 0)."""
    match = _RATE.match(text.strip().lower())
    if not match:
        raise ValueError(f"invalid rate {text!r}: use e.g. 100/s, 10/m or 3600/h")
    per_second = float(match.group(1)) / _RATE_SECONDS[match.group(2)]
    if per_second <= 0:
        raise ValueError(f"invalid rate {text!r}: it must be more than zero")
    return per_second
