"""OpenTelemetry fixtures: the SDK's in-memory exporter behind this test's TracerProvider.

The provider is this test's alone: it stands in for the global one while the test runs and
is taken away after it, so that no other test's workers trace (the API lets a process set
its global provider once only; the tests of examples/otel_app.py set it for real, in a
subprocess).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.mysql.fixtures import mysql_dsn, mysql_server, new_mysql_database  # noqa: F401


@pytest.fixture
def provider(monkeypatch) -> TracerProvider:
    provider = TracerProvider()
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    return provider


@pytest.fixture
def exporter(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    provider.shutdown()


@pytest.fixture
def tracer(provider: TracerProvider, exporter: InMemorySpanExporter) -> trace.Tracer:
    """The application's tracer: its spans are the "request" the task is enqueued from."""
    return provider.get_tracer("tests.app")
