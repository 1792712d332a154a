# examples/otel_app.py
"""One trace from the request that enqueues a task to the handler that runs it.

    pip install 'pgtask[otel]' opentelemetry-sdk
    PGTASK_DSN=postgresql://app@localhost/app python examples/otel_app.py

The enqueue stores the request span's trace context with the task; the worker's span for
each attempt ("process emails") continues it. Here both run in one process for the demo;
in production they are two, and the task row is what joins them.
"""

import asyncio
import os

import psycopg
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import pgtask

# Configure the SDK before the worker starts: pgtask traces once a TracerProvider is set
# (or run under `opentelemetry-instrument`). Without one it does nothing, at no cost.
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("shop")
registry = pgtask.Registry()
sent = asyncio.Event()


@registry.task("emails.welcome", queue="emails")
async def welcome(task: pgtask.TaskContext) -> dict:
    with tracer.start_as_current_span("render email"):  # a child of pgtask's span
        sent.set()
        return {"sent_to": task.payload["email"]}


def signup(dsn: str, email: str) -> int:
    # The app's transaction, inside its request span: the task and its trace go in together.
    with (tracer.start_as_current_span("POST /signup", kind=trace.SpanKind.SERVER),
          psycopg.connect(dsn) as conn):
        return pgtask.enqueue(conn, welcome, {"email": email})


async def main() -> None:
    dsn = os.environ["PGTASK_DSN"]
    signup(dsn, "ada@example.com")
    worker = pgtask.Worker(dsn, registry, pgtask.WorkerConfig(queues=["emails"]))
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(sent.wait(), timeout=30)
    worker.stop()  # drains: the outcome is recorded before run() returns
    await running


if __name__ == "__main__":
    asyncio.run(main())
