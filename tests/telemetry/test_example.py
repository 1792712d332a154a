"""examples/otel_app.py (the README's OpenTelemetry snippet) runs, and its console exporter
shows one trace: request span -> pgtask's process span -> the handler's own span."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "otel_app.py"


def console_spans(text: str) -> list[dict]:
    """The JSON documents ConsoleSpanExporter printed, one after another."""
    decoder, spans, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) != -1:
        span, at = decoder.raw_decode(text, at)
        spans.append(span)
    return spans


def test_the_example_prints_one_trace_from_request_to_handler(dsn):
    done = subprocess.run([sys.executable, str(EXAMPLE)], env={**os.environ, "PGTASK_DSN": dsn},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    spans = {s["name"]: s for s in console_spans(done.stdout)}
    request, process, render = spans["POST /signup"], spans["process emails"], spans["render email"]
    assert len({s["context"]["trace_id"] for s in spans.values()}) == 1
    assert process["parent_id"] == request["context"]["span_id"]
    assert render["parent_id"] == process["context"]["span_id"]
    assert process["kind"] == "SpanKind.CONSUMER"
    assert process["attributes"]["messaging.system"] == "pgtask"
    assert process["attributes"]["pgtask.task.outcome"] == "succeeded"
