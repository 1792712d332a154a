"""OpenTelemetry for pgtask (the `pgtask[otel]` extra), at no cost when it is absent.

Enqueue side: make_request stores the current span's W3C trace context (traceparent,
tracestate) with the task -- only when the application has imported OpenTelemetry already
(one dict lookup otherwise) and a span is active. Worker side: each attempt runs inside a
CONSUMER span "process <queue>" (messaging semantic conventions) whose parent is that
stored context, plus a link to it; HTTP targets receive the span as `traceparent`.

The worker chooses a Tracing once, at start: the OpenTelemetry one when the process has
imported OpenTelemetry and configured a TracerProvider (the API's default no-op provider
counts as absent), else NO_TRACING, whose attempt() hands back one shared do-nothing span.
PGTASK_OTEL=0 turns tracing off either way. Nothing here imports opentelemetry: otel.py
does, and is imported only once the application has imported OpenTelemetry itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Protocol

from pgtask.models import ClaimedTask, Outcome

__all__ = ["NO_TRACING", "AttemptSpan", "NoTracing", "Tracing", "carrier_from",
           "choose_tracing", "current_trace_context", "enabled"]

CARRIER_KEYS = ("traceparent", "tracestate")
# W3C caps tracestate at 32 members; 512 characters is the size it asks vendors to keep to.
# A longer value is dropped (not cut, which would corrupt it); traceparent is 55 characters.
MAX_VALUE_CHARS = 512


class AttemptSpan(Protocol):
    """The span of one attempt: entered around the run, told how it ended."""

    def __enter__(self) -> AttemptSpan: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def failed(self, exc: BaseException) -> None:
        """The handler raised `exc` (or timed out): recorded, status ERROR."""

    def ended(self, outcome: Outcome) -> None:
        """What became of the attempt (succeeded, failed, dead, snoozed, cancelled)."""


class Tracing(Protocol):
    """What the executor and the HTTP dispatcher need from a tracer."""

    def attempt(self, task: ClaimedTask) -> AttemptSpan:
        """A span for one attempt of `task`, continuing its stored trace context."""

    def inject(self, headers: dict[str, str]) -> None:
        """Add the current span's traceparent (and tracestate) to outgoing `headers`."""


class _NoSpan:
    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def failed(self, exc: BaseException) -> None:
        return None

    def ended(self, outcome: Outcome) -> None:
        return None


_NO_SPAN = _NoSpan()


class NoTracing:
    """Tracing when OpenTelemetry is absent or off: one shared span that does nothing."""

    __slots__ = ()

    def attempt(self, task: ClaimedTask) -> AttemptSpan:
        return _NO_SPAN

    def inject(self, headers: dict[str, str]) -> None:
        return None


NO_TRACING: Tracing = NoTracing()


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when PGTASK_OTEL says off (0, false, no, off); tracing is on by default."""
    value = (os.environ if env is None else env).get("PGTASK_OTEL", "")
    return value.strip().lower() not in ("0", "false", "no", "off")


def carrier_from(stored: object) -> dict[str, str]:
    """The W3C carrier in a stored trace context, keeping only what is safe to hand to a
    propagator: a mapping's traceparent and tracestate, when they are short strings.
    Anything else (a list, a number, a huge or non-string value) gives {} -- any enqueuer
    can write the row, and tracing must never stop or slow a task."""
    if not isinstance(stored, Mapping):
        return {}
    carrier = {}
    for key in CARRIER_KEYS:
        value = stored.get(key)
        if isinstance(value, str) and 0 < len(value) <= MAX_VALUE_CHARS:
            carrier[key] = value
    return carrier


def current_trace_context() -> dict[str, str] | None:
    """The active span's W3C trace context, to store with a task; None when OpenTelemetry
    was never imported (without importing it), is off, or no valid span is active."""
    if "opentelemetry" not in sys.modules or not enabled():
        return None
    from pgtask.telemetry.otel import inject_current

    return inject_current()


def choose_tracing(worker_id: str | None = None,
                   scrub: Callable[[str], str] | None = None) -> Tracing:
    """The Tracing for a worker, chosen once at start (see the module docstring). `scrub`
    cleans exception messages and tracebacks before they reach a span, as it does logs."""
    if "opentelemetry" not in sys.modules or not enabled():
        return NO_TRACING
    from pgtask.telemetry.otel import configured_tracing

    return configured_tracing(worker_id, scrub) or NO_TRACING
