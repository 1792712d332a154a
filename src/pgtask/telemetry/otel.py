"""The OpenTelemetry side of pgtask.telemetry; imported only once the application has
imported OpenTelemetry itself (so importing it here costs nothing more).

Span and attribute names follow the OpenTelemetry messaging semantic conventions: a
CONSUMER span "process <queue>" per attempt, messaging.system "pgtask", operation type and
name "process", destination = the queue, message id = the task id. Its parent is the
enqueuer's span, read from the task row; it also carries a link to it, the form the
conventions give for a message that is processed apart from its producer. Only the W3C
trace-context propagator is used, both ways: the application's global propagator might
write anything (baggage, say) into a row or a request to a third-party target.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable
from types import TracebackType

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pgtask._version import __version__
from pgtask.models import ClaimedTask, Outcome
from pgtask.telemetry import AttemptSpan, Tracing, carrier_from

__all__ = ["OtelTracing", "configured_tracing", "inject_current"]

W3C = TraceContextTextMapPropagator()
MAX_STATUS_CHARS = 200
EMPTY = otel_context.Context()


def inject_current() -> dict[str, str] | None:
    """The current span's W3C carrier; None without a valid span. Never raises: tracing
    must not break an enqueue."""
    try:
        if not trace.get_current_span().get_span_context().is_valid:
            return None
        carrier: dict[str, str] = {}
        W3C.inject(carrier)
        return carrier_from(carrier) or None
    except Exception:
        return None


def configured_tracing(worker_id: str | None = None,
                       scrub: Callable[[str], str] | None = None) -> Tracing | None:
    """OtelTracing on the global TracerProvider; None while none is configured."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None
    return OtelTracing(provider.get_tracer("pgtask", __version__), worker_id, scrub)


def _parent(stored: object) -> otel_context.Context:
    """The enqueuer's context, or an empty one (a root span) for anything unreadable."""
    carrier = carrier_from(stored)
    if not carrier:
        return EMPTY
    try:
        return W3C.extract(carrier, context=EMPTY)
    except Exception:
        return EMPTY


class OtelTracing:
    def __init__(self, tracer: Tracer, worker_id: str | None = None,
                 scrub: Callable[[str], str] | None = None) -> None:
        self.tracer = tracer
        self.worker_id = worker_id
        self.scrub = scrub or (lambda text: text)

    def attempt(self, task: ClaimedTask) -> AttemptSpan:
        return _Attempt(self, task)

    def inject(self, headers: dict[str, str]) -> None:
        carrier: dict[str, str] = {}
        W3C.inject(carrier)
        headers.update(carrier_from(carrier))


class _Attempt:
    __slots__ = ("_errored", "_span", "_task", "_token", "_tracing")

    def __init__(self, tracing: OtelTracing, task: ClaimedTask) -> None:
        self._tracing = tracing
        self._task = task
        self._errored = False

    def __enter__(self) -> _Attempt:
        task = self._task
        parent = _parent(task.trace_context)
        producer = trace.get_current_span(parent).get_span_context()
        attributes: dict[str, str | int] = {
            "messaging.system": "pgtask",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": task.queue,
            "messaging.message.id": str(task.id),
            "pgtask.task.type": task.task_type,
            "pgtask.task.attempt": task.attempt,
            "pgtask.task.max_attempts": task.max_attempts,
        }
        if self._tracing.worker_id:
            attributes["messaging.client.id"] = self._tracing.worker_id
        self._span = self._tracing.tracer.start_span(
            f"process {task.queue}", context=parent, kind=SpanKind.CONSUMER,
            attributes=attributes, links=[Link(producer)] if producer.is_valid else None,
            record_exception=False, set_status_on_exception=False)
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if isinstance(exc, asyncio.CancelledError):  # taken away: shutdown, cancel, lease
                self._span.set_attribute("pgtask.task.outcome", "interrupted")
            elif exc is not None:
                self.failed(exc)
        finally:  # ended whatever recording it raised (a scrub that fails, say): no leak
            self._span.end()
            otel_context.detach(self._token)

    def failed(self, exc: BaseException) -> None:
        scrub = self._tracing.scrub
        kind = type(exc).__qualname__
        message = scrub(str(exc))
        stack = scrub("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        self._span.record_exception(exc, attributes={
            "exception.message": message, "exception.stacktrace": stack})
        self._span.set_attribute("error.type", kind)
        self._span.set_status(StatusCode.ERROR, f"{kind}: {message}"[:MAX_STATUS_CHARS])
        self._errored = True

    def ended(self, outcome: Outcome) -> None:
        span = self._span
        span.set_attribute("pgtask.task.outcome", outcome.kind)
        if outcome.kind == "snoozed" and outcome.delay is not None:
            span.set_attribute("pgtask.task.retry_after", outcome.delay.total_seconds())
        if outcome.kind in ("failed", "dead") and not self._errored:
            # No exception said why (a result that is not JSON, an HTTP 500, ...).
            first = self._tracing.scrub((outcome.error or outcome.kind).partition("\n")[0])
            span.set_status(StatusCode.ERROR, first[:MAX_STATUS_CHARS])
            span.set_attribute("error.type", "pgtask." + outcome.kind)
