"""Loaders that never raise on a value Postgres holds and Python cannot represent.

A row is written by whoever may enqueue (or by the schema's owner, bypassing every bound
in SQL), and read by the worker, the CLI, the console and the web app. psycopg's own
loaders raise DataError on a timestamp outside Python's years 1-9999 (±infinity, BC dates,
the year 12000), and json.loads raises on text nested ~1000 deep or on an integer of more
than 4300 digits (and turns 1e400 into inf, which no JSON encoder writes back). One such
value would fail every fetch that includes its row. `register(conn)` replaces them, per
connection (never globally: an application's own psycopg connections are left alone):

- timestamps and dates out of range are clamped to Python's largest or smallest value
  (UTC for timestamptz), intervals likewise: ordering survives, the exact value does not;
- JSON that cannot be loaded (or nests deeper than undecodable.MAX_JSON_DEPTH) comes back as
  undecodable.RawJson: its text, with the reason.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any

import psycopg
from psycopg import abc
from psycopg.adapt import Buffer, Loader
from psycopg.pq import Format
from psycopg.types.json import JsonbBinaryLoader, JsonbLoader, set_json_loads

from pgtask.undecodable import MAX_JSON_DEPTH, RawJson

# (type, lowest, highest): what an out-of-range value of each type is clamped to.
CLAMPS: tuple[tuple[str, object, object], ...] = (
    ("timestamptz", datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)),
    ("timestamp", datetime.min, datetime.max),
    ("date", date.min, date.max),
    ("interval", timedelta.min, timedelta.max),
)


# Depth and number checks work on the text, with C-speed bytes operations (a walk of the
# loaded value cost 3x the json.loads of a 2,000-element payload); see text_depth.
_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')  # deleted: all but these
_STRINGS = re.compile(rb'"[^"]*"')
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\x02\x02")
_STEP = (0, 1, -1)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_EXPONENT = re.compile(rb"\d[eE][+-]?\d{3}")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("a number beyond the range of a float")
    return value


def _may_overflow_a_float(raw: bytes, exponents: bool) -> bool:
    """Whether a number in `raw` might exceed a float: 309 digits in a row (jsonb writes
    1e400 so: it never writes an exponent), or, for json, which keeps the text as given, a
    three-digit exponent."""
    if b"0" * 309 in raw.translate(_DIGITS_AS_ZERO):
        return True
    return exponents and (b"e" in raw or b"E" in raw) and _EXPONENT.search(raw) is not None


def text_depth(raw: bytes) -> int:
    """How many arrays and objects deep the JSON text `raw` nests (0 for a scalar),
    counted on the text, never by recursion: escaped backslashes and quotes go first,
    then everything but quotes and brackets; strings are then runs of brackets between
    quotes ('""' is an empty string or two strings run together: both can go)."""
    structure = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _STRUCTURE)
    structure = structure.replace(b'""', b"")
    if b'"' in structure:  # strings with brackets inside: rare
        structure = _STRINGS.sub(b"", structure)
    steps = structure.translate(_STEPS, b'"')  # a stray quote (not valid JSON) is dropped
    return max(accumulate(map(_STEP.__getitem__, steps)), default=0)


def _reason(exc: Exception) -> str:
    message = str(exc)
    if "integer string conversion" in message:
        return "a number with more digits than Python converts (4300)"
    if isinstance(exc, RecursionError):  # not expected: text_depth looked first
        return "nested deeper than Python can load"
    return message or type(exc).__name__


def load_json(data: bytes | str, exponents: bool = True) -> Any:
    """json.loads, or RawJson(text, reason) for what it cannot (or should not) load.
    `exponents`: False for jsonb's text, which writes every number in plain digits."""
    raw = data.encode() if isinstance(data, str) else data
    # Counting brackets bounds the depth: most values skip the closer look.
    if (raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH
            and text_depth(raw) > MAX_JSON_DEPTH):
        reason = f"nested deeper than {MAX_JSON_DEPTH} levels"
        return RawJson(raw.decode("utf-8", "replace"), reason)
    try:
        if _may_overflow_a_float(raw, exponents):
            return json.loads(raw, parse_float=_finite_float)
        return json.loads(raw)
    except (RecursionError, ValueError) as exc:
        return RawJson(raw.decode("utf-8", "replace"), _reason(exc))


def _below(data: Buffer, binary: bool) -> bool:
    """Whether an out-of-range value lies below Python's range (else above)."""
    raw = bytes(data)
    if not binary:  # '-infinity', '4714-11-24 00:00:00+00 BC', '-200000000 years'
        return raw.startswith(b"-") or raw.endswith(b" BC")
    if len(raw) == 16:  # an interval: microseconds (int64), days, months (int32 each)
        micros, days, months = (int.from_bytes(raw[a:b], "big", signed=True)
                                for a, b in ((0, 8), (8, 12), (12, 16)))
        return micros + (days + 30 * months) * 86_400_000_000 < 0
    return int.from_bytes(raw, "big", signed=True) < 0  # a timestamp (int64) or date (int32)


def _clamping(name: str, fmt: Format, low: object, high: object) -> type[Loader]:
    """A loader that wraps psycopg's default for `name` (its C one when installed) and
    clamps what that one refuses as out of range."""
    oid = psycopg.adapters.types[name].oid
    default = psycopg.adapters.get_loader(oid, fmt)
    assert default is not None, f"psycopg has a loader for {name}"
    inner_class: type[abc.Loader] = default
    binary = fmt == Format.BINARY

    class Clamped(Loader):
        format = fmt

        def __init__(self, oid: int, context: abc.AdaptContext | None = None) -> None:
            super().__init__(oid, context)
            self._inner = inner_class(oid, context)

        def load(self, data: Buffer) -> Any:
            try:
                return self._inner.load(data)
            except psycopg.DataError:
                return low if _below(data, binary) else high

    Clamped.__name__ = f"Clamped{name.capitalize()}{'Binary' if binary else ''}Loader"
    return Clamped


LOADERS = tuple((name, _clamping(name, fmt, low, high))
                for name, low, high in CLAMPS for fmt in (Format.TEXT, Format.BINARY))


def load_jsonb(data: bytes | str) -> Any:
    return load_json(data, exponents=False)


class _Jsonb(JsonbLoader):
    _loads = staticmethod(load_jsonb)


class _JsonbBinary(JsonbBinaryLoader):
    _loads = staticmethod(load_jsonb)


def register(context: abc.AdaptContext) -> None:
    """Install the loaders above on a connection (or cursor); idempotent."""
    for name, loader in LOADERS:
        context.adapters.register_loader(name, loader)
    set_json_loads(load_json, context)  # json and jsonb, then jsonb's own (faster) function
    context.adapters.register_loader("jsonb", _Jsonb)
    context.adapters.register_loader("jsonb", _JsonbBinary)
