"""Durations and rates shown back to operators, and the click parameter types for both
(pgtask.durations parses them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from pgtask.durations import parse_duration, parse_rate

UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class Clear:
    """The value of an option set to 'none': clear the (nullable) setting."""

    def __repr__(self) -> str:
        return "CLEAR"


CLEAR = Clear()


def format_duration(delta: timedelta) -> str:
    """A duration as an operator would type it, for echoing settings back: 1h30m, 500ms, 7d."""
    ms = round(delta.total_seconds() * 1000)
    if ms % 1000:
        return f"{ms}ms"
    seconds, out = ms // 1000, ""
    for unit in ("d", "h", "m", "s"):
        size = UNIT_SECONDS[unit]
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"


def format_rate(per_second: float) -> str:
    """A rate in the largest unit that keeps it at least 1: 100/s, 10/m, 2/h."""
    for unit, size in (("s", 1), ("m", 60)):
        if per_second * size >= 1:
            return f"{per_second * size:.4g}/{unit}"
    return f"{per_second * 3600:.4g}/h"


if TYPE_CHECKING:  # generic from click 8.4 on; older ones cannot be subscripted at run time
    ParamType = click.ParamType[Any]
else:
    ParamType = click.ParamType


class _Parsed(ParamType):
    """A click type from a pure parser; with nullable=True, 'none' gives CLEAR."""

    def __init__(self, name: str, parser: Callable[[str], Any], nullable: bool = False) -> None:
        self.name = name
        self._parser = parser
        self._nullable = nullable

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        if self._nullable and value.strip().lower() == "none":
            return CLEAR
        try:
            return self._parser(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


DURATION = _Parsed("duration", parse_duration)
RATE = _Parsed("rate", parse_rate)
OPTIONAL_RATE = _Parsed("rate|none", parse_rate, nullable=True)
OPTIONAL_INT = _Parsed("integer|none", _whole_number, nullable=True)
OPTIONAL_TEXT = _Parsed("text|none", str, nullable=True)
OPTIONAL_DURATION = _Parsed("duration|none", parse_duration, nullable=True)
