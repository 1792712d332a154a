"""No cost when OpenTelemetry is absent: pgtask never imports it, and the worker's tracing is
one shared no-op (before: pgtask.telemetry did not exist, ImportError)."""

from __future__ import annotations

import subprocess
import sys
import timeit

import pytest

from pgtask.models import ClaimedTask, Outcome
from pgtask.telemetry import NO_TRACING, carrier_from, choose_tracing, enabled

NEVER_IMPORTS = """
import sys, psycopg, pgtask
from pgtask.worker.runner import Worker
from pgtask.worker.http.targets import HttpTargets
with psycopg.connect(sys.argv[1]) as conn:
    task_id = pgtask.enqueue(conn, "t.x", {"n": 1})
assert task_id > 0
assert Worker("{dsn}", pgtask.Registry())._executor.tracing is not None
print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
""".replace('"{dsn}"', "sys.argv[1]")


def test_enqueue_and_a_worker_never_import_opentelemetry(dsn):
    done = subprocess.run([sys.executable, "-c", NEVER_IMPORTS, dsn], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_a_configured_provider_the_worker_does_not_trace():
    import opentelemetry.trace  # imported, but no TracerProvider set: the API's no-op

    assert opentelemetry.trace is not None
    assert choose_tracing() is NO_TRACING


def test_pgtask_otel_0_turns_tracing_off(provider, monkeypatch):
    assert choose_tracing() is not NO_TRACING
    monkeypatch.setenv("PGTASK_OTEL", "0")
    assert choose_tracing() is NO_TRACING
    assert not enabled({"PGTASK_OTEL": "off"}) and enabled({})


@pytest.mark.parametrize(("stored", "carrier"), [
    ({"traceparent": "00-ab-cd-01", "tracestate": "a=b", "baggage": "x"},
     {"traceparent": "00-ab-cd-01", "tracestate": "a=b"}),
    ({"traceparent": 7, "tracestate": "a=b"}, {"tracestate": "a=b"}),
    ({"traceparent": "", "tracestate": "x" * 513}, {}),
    (["traceparent"], {}), ("00-ab-cd-01", {}), (None, {}), (42, {}),
])
def test_carrier_from_keeps_only_short_w3c_strings(stored, carrier):
    assert carrier_from(stored) == carrier


def test_the_no_op_span_costs_well_under_a_microsecond_a_task():
    """Figures for the report, not a timing assert: the whole per-attempt cost of tracing
    when it is absent (attempt(), enter, ended(), exit)."""
    from datetime import UTC, datetime
    from uuid import uuid4

    now = datetime.now(UTC)
    task = ClaimedTask(1, "default", "t", {}, 1, 5, uuid4(), now, now, now)
    outcome = Outcome(1, task.lease_token, "succeeded")

    def one() -> None:
        with NO_TRACING.attempt(task) as span:
            span.ended(outcome)

    n = 200_000
    seconds = min(timeit.repeat(one, number=n, repeat=5))
    print(f"no-op tracing per task: {seconds / n * 1e9:.0f} ns")
    assert NO_TRACING.attempt(task) is NO_TRACING.attempt(task)  # one shared object
