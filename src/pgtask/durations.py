"""Parse the durations people type: 500ms, 30s, 5m, 1h, 7d, or plain seconds."""

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
