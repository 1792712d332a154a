"""pgtask.logs: the JSON formatter (pure: a record in, one JSON line out), the task context
and the worker id, and the CLI's configure(). Before: pgtask.logs did not exist."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import sys
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from pgtask import logs
from pgtask.models import ClaimedTask

NOW = datetime(2026, 12, 4, 18, 30, 0, 123456, tzinfo=UTC)


def claimed(task_id: int = 42) -> ClaimedTask:
    return ClaimedTask(id=task_id, queue="emails", task_type="emails.send", payload={},
                       attempt=2, max_attempts=5, lease_token=uuid4(), run_at=NOW,
                       created_at=NOW, attempted_at=NOW)


def record(msg: str = "hello %s", args: tuple = ("world",), name: str = "pgtask.worker",
           level: int = logging.WARNING, exc_info=None, **extra) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)
    rec.created = NOW.timestamp()
    rec.__dict__.update(extra)
    return rec


def as_json(rec: logging.LogRecord) -> dict:
    line = logs.JsonFormatter().format(rec)
    assert "\n" not in line
    return json.loads(line)


def test_a_plain_record():
    line = as_json(record(event="task.failed", task_id=7, task_type="t", queue="q", attempt=1,
                          worker="h:1:ab"))
    assert line == {"time": "2026-12-04T18:30:00.123Z", "level": "warning",
                    "logger": "pgtask.worker", "event": "task.failed", "message": "hello world",
                    "task_id": 7, "task_type": "t", "queue": "q", "attempt": 1,
                    "worker": "h:1:ab", "pid": line["pid"]}
    assert list(line)[:5] == ["time", "level", "logger", "event", "message"]


def test_time_is_rfc3339_utc_with_milliseconds():
    rec = record()
    plus_two = timezone(timedelta(hours=2))
    rec.created = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=plus_two).timestamp()
    assert as_json(rec)["time"] == "2026-01-02T01:04:05.006Z"


@pytest.mark.parametrize(("name", "extra", "event"), [
    ("app.emails", {}, "log"),  # a handler's own logger
    ("httpx", {}, "log"),
    ("uvicorn.access", {}, "http.access"),
    ("uvicorn.error", {}, "http.server"),
    ("pgtask.worker", {"event": ""}, "log"),
    ("pgtask.worker", {"event": "claim.failed"}, "claim.failed"),
])
def test_event_fallbacks(name, extra, event):
    assert as_json(record(name=name, **extra))["event"] == event


def test_absent_fields_are_left_out_and_odd_values_survive():
    line = as_json(record(msg="%s", args=(object,), task_id=None, queue=b"raw"))
    assert "task_id" not in line and "worker" not in line and "exc" not in line
    assert line["queue"] == "b'raw'"


def test_an_exception_gives_its_type_and_traceback_on_one_line():
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        rec = record(exc_info=sys.exc_info())
    line = as_json(rec)
    assert line["exc_type"] == "ValueError"
    assert line["exc"].startswith("Traceback") and "ValueError: bad\nvalue" in line["exc"]


def test_an_already_formatted_traceback_is_used_as_is():
    """The scrub filter leaves its cleaned traceback in exc_text: that is what is written."""
    try:
        raise RuntimeError("password=hunter22")
    except RuntimeError:
        rec = record(exc_info=sys.exc_info())
    rec.exc_text = "Traceback: [redacted]"
    assert as_json(rec)["exc"] == "Traceback: [redacted]"


def test_context_filter_stamps_the_task_and_worker_unless_given():
    flt = logs.ContextFilter()
    with logs.worker_context("h:1:ab"):
        with logs.task_context(claimed()):
            inside = record()
            given = record(task_id=1, attempt=9)
            flt.filter(inside), flt.filter(given)
        outside = record()
        flt.filter(outside)
    after = record()
    flt.filter(after)
    assert not hasattr(after, "worker")
    assert (inside.task_id, inside.task_type, inside.queue, inside.attempt, inside.worker) == (
        42, "emails.send", "emails", 2, "h:1:ab")
    assert (given.task_id, given.attempt, given.queue) == (1, 9, "emails")
    assert not hasattr(outside, "task_id") and outside.worker == "h:1:ab"
    assert logs.current_task() is None


def test_task_context_is_per_asyncio_task_and_reaches_a_copied_thread_context():
    async def attempt(task_id: int) -> tuple:
        with logs.task_context(claimed(task_id)):
            await asyncio.sleep(0)
            loop = asyncio.get_running_loop()
            in_thread = await loop.run_in_executor(None, contextvars.copy_context().run,
                                                   logs.current_task)
            return logs.current_task()["task_id"], in_thread["task_id"]

    async def both() -> list:
        return await asyncio.gather(attempt(1), attempt(2))

    assert asyncio.run(both()) == [(1, 1), (2, 2)]


def test_configure_json_and_text(monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    stream = io.StringIO()
    handler = logs.configure("info", "json", stream=stream)
    assert handler is not None and root.handlers == [handler]
    logging.getLogger("app").debug("not shown")
    with logs.task_context(claimed()):
        logging.getLogger("app").info("shown %d", 1)
    assert logs.log_fatal("pgtask: stopping") is True
    first, fatal = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["message"], first["task_id"], first["event"]) == ("shown 1", 42, "log")
    assert (fatal["event"], fatal["level"]) == ("command.failed", "error")
    assert logs.configure("debug", "json") is None, "a configured root is left alone"

    monkeypatch.setattr(root, "handlers", [])
    stream = io.StringIO()
    logs.configure("info", "text", "%(levelname)s %(message)s", stream=stream)
    logging.getLogger("app").warning("plain")
    assert stream.getvalue() == "WARNING plain\n"
    assert logs.log_fatal("x") is False, "text: the CLI prints it plainly"
    with pytest.raises(ValueError, match="unknown log format"):
        logs.configure("info", "xml")


def test_uvicorn_options():
    assert logs.uvicorn_options("json") == {"log_config": None}
    assert logs.uvicorn_options("text") == {}


def test_two_workers_in_one_process_each_name_their_own_lines():
    # Before: a process-wide id, so the second worker's start renamed the first's lines and
    # the first's stop took the id from the second's (worker_context: ImportError before).
    flt = logs.ContextFilter()

    async def worker(worker_id: str, started: asyncio.Event, other: asyncio.Event) -> str:
        with logs.worker_context(worker_id):
            started.set()
            await other.wait()
            await asyncio.sleep(0)
            rec = record()
            flt.filter(rec)
            return rec.worker

    async def both() -> list:
        a, b = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(worker("h:1:a", a, b), worker("h:1:b", b, a))

    assert asyncio.run(both()) == ["h:1:a", "h:1:b"]


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


def test_an_odd_record_still_makes_one_json_line():
    # Before: each of these raised inside format() (a "--- Logging error ---" on stderr
    # instead of the line): arguments that do not fit the format, a value whose str()
    # raises, a circular value, a field JSON cannot key.
    circular: list = []
    circular.append(circular)
    bad_args = as_json(record("%d tasks", ("many",)))
    assert bad_args["message"] == "%d tasks (arguments not formatted: ('many',))"
    assert as_json(record(Unprintable(), ()))["message"].startswith("<unprintable Unprintable>")
    assert as_json(record("m", (), task_id=Unprintable()))["task_id"] == (
        "<unprintable Unprintable>")
    assert as_json(record("m", (), queue=circular))["queue"] == "[[...]]"
    assert as_json(record("m", (), queue={(1, 2): "x"}))["queue"] == "{(1, 2): 'x'}"
    assert as_json(record(12345, ()))["message"] == "12345"
