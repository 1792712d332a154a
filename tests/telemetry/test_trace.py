"""Item 2: one trace from an enqueue inside a request span to the handler's attempts, with
the SDK's in-memory exporter and a real worker (in-process) on the real Postgres. Before:
no trace_context column, no spans (pgtask.telemetry: ImportError)."""

from __future__ import annotations

import json

import psycopg
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

import pgtask
from pgtask import Registry
from pgtask.worker.http.targets import HttpTargets
from tests.http.helpers import make_config
from tests.http.target import TargetServer
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until

FAST_RETRIES = ("insert into pgtask.queues (name, min_backoff, max_backoff, backoff_jitter) "
                "values (%s, '10 ms', '50 ms', 0)")


def as_json(spans: list[ReadableSpan]) -> str:
    """The spans as the report shows them: name, ids, parent, links, status, attributes."""
    return json.dumps([{
        "name": s.name, "kind": s.kind.name,
        "trace_id": f"{s.context.trace_id:032x}", "span_id": f"{s.context.span_id:016x}",
        "parent": s.parent and f"{s.parent.span_id:016x}",
        "links": [f"{link.context.span_id:016x}" for link in s.links],
        "status": s.status.status_code.name,
        "events": [e.name for e in s.events],
        "attributes": dict(s.attributes or {})} for s in spans], indent=1)


def finished(dsn: str, task_id: int) -> str | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select state::text from pgtask.task_history where id = %s",
                           (task_id,)).fetchone()
    return row and row[0]


def test_one_trace_from_the_request_span_through_each_attempt(dsn, tracer, exporter):
    registry = Registry()

    @registry.task("signup.welcome", queue="mail")
    async def welcome(task):
        if task.attempt == 1:
            raise ValueError("smtp is down")
        return {"sent": task.payload["to"]}

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(FAST_RETRIES, ("mail",))
    with (tracer.start_as_current_span("GET /signup", kind=SpanKind.SERVER) as request,
          psycopg.connect(dsn) as conn):  # the app's own transaction
        task_id = pgtask.enqueue(conn, "signup.welcome", {"to": "a@example.com"}, queue="mail")
    with running_worker(dsn, registry, queues=["mail"], poll_interval=0.05) as worker:
        wait_until(lambda: finished(dsn, task_id) == "succeeded", timeout=20,
                   message="the task to succeed on its second attempt")
    spans = exporter.get_finished_spans()
    print(as_json(list(spans)))
    ours = request.get_span_context()
    first, second = sorted((s for s in spans if s.name == "process mail"),
                           key=lambda s: s.attributes["pgtask.task.attempt"])
    assert {s.context.trace_id for s in spans} == {ours.trace_id}  # one trace
    for attempt, span in ((1, first), (2, second)):
        assert span.kind == SpanKind.CONSUMER
        assert span.parent.span_id == ours.span_id
        assert [link.context.span_id for link in span.links] == [ours.span_id]
        assert dict(span.attributes) | {"messaging.client.id": None} == {
            "messaging.system": "pgtask", "messaging.operation.type": "process",
            "messaging.operation.name": "process", "messaging.destination.name": "mail",
            "messaging.message.id": str(task_id), "pgtask.task.type": "signup.welcome",
            "pgtask.task.attempt": attempt, "pgtask.task.max_attempts": 20,
            "pgtask.task.outcome": "failed" if attempt == 1 else "succeeded",
            "messaging.client.id": None,
            **({"error.type": "ValueError"} if attempt == 1 else {})}
        assert span.attributes["messaging.client.id"] == worker.id
    assert first.status.status_code == StatusCode.ERROR
    assert first.status.description == "ValueError: smtp is down"
    [event] = first.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "smtp is down"
    assert second.status.status_code == StatusCode.UNSET and not second.events


def test_an_http_target_receives_the_attempt_span_as_its_parent(dsn, tracer, exporter):
    target = TargetServer().start()
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("insert into pgtask.queues (name, target_url) values ('hooks', %s)",
                         (target.url("/hook"),))
        with (tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as request,
              psycopg.connect(dsn) as conn):
            task_id = pgtask.enqueue(conn, "orders.created", {"n": 1}, queue="hooks")
        targets = HttpTargets(make_config(), refresh_interval=0.5)
        with running_worker(dsn, Registry(), targets, queues=["hooks"], poll_interval=0.05):
            wait_until(lambda: finished(dsn, task_id) == "succeeded", timeout=20,
                       message="the task delivered")
    finally:
        target.stop()
    [span] = [s for s in exporter.get_finished_spans() if s.name == "process hooks"]
    [seen] = target.requests
    trace_id = f"{request.get_span_context().trace_id:032x}"
    flags = f"{span.context.trace_flags:02x}"  # sampled (and the SDK's random-id bit)
    assert seen.headers["traceparent"] == f"00-{trace_id}-{span.context.span_id:016x}-{flags}"
    assert span.parent.span_id == request.get_span_context().span_id
    assert span.attributes["pgtask.task.outcome"] == "succeeded"
    assert "webhook-signature" in seen.headers  # signed as before: the body is unchanged
    assert json.loads(seen.body)["id"] == task_id


GARBAGE = [
    '{"traceparent": 42}',
    '{"traceparent": "00-zzzz-not-hex-01", "tracestate": "\\n\\t=="}',
    '{"traceparent": "00-' + "a" * 3000 + '-01"}',
    '{"traceparent": ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]}',
    '{"traceparent": "00-00000000000000000000000000000000-0000000000000000-01"}',
    '{"tracestate": "' + "k=v," * 900 + '"}',
    '{"traceparent": ' + "[" * 1500 + "]" * 1500 + '}',  # too deep for json.loads
    '{}',
    None,
]


def test_garbage_in_trace_context_never_stops_a_task(dsn, db, exporter):
    """Any enqueuer can write the row: a raw INSERT (the BEFORE ROW trigger fills queue and
    priority) with values no propagator would write. Each task runs, as a root span."""
    registry = Registry()

    @registry.task("t.any")
    def run(task):
        return "ok"

    ids = [db.execute("insert into pgtask.tasks (task_type, trace_context) "
                      "values ('t.any', %s::jsonb) returning id", (value,)).fetchone()["id"]
           for value in GARBAGE]
    with running_worker(dsn, registry, poll_interval=0.05):
        wait_until(lambda: all(finished(dsn, i) == "succeeded" for i in ids), timeout=20,
                   message="every task to succeed")
    spans = [s for s in exporter.get_finished_spans() if s.name == "process default"]
    assert sorted(int(s.attributes["messaging.message.id"]) for s in spans) == sorted(ids)
    assert all(s.parent is None and not s.links for s in spans)


def test_the_schema_refuses_a_trace_context_that_is_not_a_small_object(db):
    for bad in ('"00-abc"', '[1]', '{"tracestate": "' + "x" * 5000 + '"}'):
        try:
            db.execute("select pgtask.enqueue_task('t.x', trace_context => %s::jsonb)", (bad,))
        except psycopg.errors.CheckViolation as exc:
            assert "trace_context_is_small_object" in str(exc)
        else:
            raise AssertionError(f"{bad[:20]} was accepted")


def test_old_sql_callers_keep_working_and_new_ones_pass_a_trace_context(db):
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    old = db.execute("select pgtask.enqueue_task('t.x', '{}', null, null, null, null, null,"
                     " null, null, null) as id").fetchone()["id"]  # the 10 arguments of 0005
    new = db.execute("select pgtask.enqueue_task('t.x', '{}', null, null, null, null, null,"
                     " null, null, null, %s::jsonb) as id", (json.dumps(carrier),)).fetchone()["id"]
    many = [r["id"] for r in db.execute(
        "select pgtask.enqueue_tasks(array['t.x', 't.x', 't.x'], idempotency_keys =>"
        " array[null, null, 'k'], trace_contexts => array[%s::jsonb, null, %s::jsonb]) as id",
        (json.dumps(carrier), json.dumps(carrier))).fetchall()]
    stored = {r["id"]: r["trace_context"] for r in db.execute(
        "select id, trace_context from pgtask.tasks").fetchall()}
    assert stored == {old: None, new: carrier, many[0]: carrier, many[1]: None,
                      many[2]: carrier}


def test_enqueue_many_carries_the_span_on_each_task(dsn, tracer):
    with tracer.start_as_current_span("batch") as span, psycopg.connect(dsn) as conn:
        ids = pgtask.enqueue_many(conn, [("t.x", {"n": n}) for n in range(3)])
    trace_id = f"{span.get_span_context().trace_id:032x}"
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select trace_context from pgtask.tasks where id = any(%s)",
                            (ids,)).fetchall()
    assert [r[0]["traceparent"].split("-")[1] for r in rows] == [trace_id] * 3
    with psycopg.connect(dsn) as conn:  # no span active: nothing stored
        [bare] = pgtask.enqueue_many(conn, [("t.x", {})])
        assert conn.execute("select trace_context from pgtask.tasks where id = %s",
                            (bare,)).fetchone()[0] is None


def test_secrets_stay_out_of_spans_as_they_stay_out_of_logs(dsn, exporter):
    """The worker's own secrets (here its DSN's password; trust auth ignores it) are
    scrubbed from a recorded exception, its stack trace and the span's status."""
    secret = "s3cret-pw-4711"
    registry = Registry()

    @registry.task("t.leak", max_attempts=1)
    def leak(task):
        raise RuntimeError(f"could not reach postgresql://app:{secret}@db/app")

    with psycopg.connect(dsn) as conn:
        task_id = pgtask.enqueue(conn, leak)  # its TaskDef: one attempt
    with running_worker(f"{dsn} password={secret}", registry, poll_interval=0.05):
        wait_until(lambda: finished(dsn, task_id) == "dead", timeout=20, message="a dead task")
    [span] = [s for s in exporter.get_finished_spans() if s.name == "process default"]
    assert span.status.status_code == StatusCode.ERROR
    text = json.dumps([span.status.description, dict(span.attributes),
                       [dict(e.attributes) for e in span.events]])
    assert "could not reach" in text and secret not in text


def test_the_attempt_span_ends_even_when_recording_the_error_fails(provider, exporter):
    """Whatever recording an error raises (here the scrub), the span still ends: no span
    left open, no context left attached (before: end() was skipped)."""
    from datetime import UTC, datetime
    from uuid import uuid4

    from opentelemetry import trace

    from pgtask.models import ClaimedTask
    from pgtask.telemetry.otel import OtelTracing

    def broken_scrub(text: str) -> str:
        raise RuntimeError("scrub failed")

    now = datetime.now(UTC)
    task = ClaimedTask(1, "default", "t.x", {}, 1, 5, uuid4(), now, now, now)
    tracing = OtelTracing(provider.get_tracer("pgtask"), "w1", broken_scrub)
    before = trace.get_current_span()
    try:
        with tracing.attempt(task):
            raise ValueError("handler failed")
    except RuntimeError:
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["process default"]
    assert trace.get_current_span() is before
