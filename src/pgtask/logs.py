"""Log lines people can ship: stable event names, the task a line is about, JSON output.

Every record pgtask logs names its event (`extra={"event": "task.failed", ...}`; the list,
with levels and fields, is docs/logging.md). The executor sets the running attempt's task in
a context variable for the attempt's duration, so a line a handler logs through its own
logger carries the task id too; a worker's run() sets its id the same way (several workers
in one process each name their own lines). `--log-format json` (see
cli/log_options.py) writes one JSON object per line, for log collectors.

The formatter adds nothing secret: it reads the message and traceback the worker's scrub
filter (worker/scrub.py) already cleaned, and none of its fields can hold a secret.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgtask.models import ClaimedTask

__all__ = ["FALLBACK_EVENT", "FIELDS", "FORMATS", "LOGGER_EVENTS", "ContextFilter",
           "JsonFormatter", "configure", "current_task", "log_fatal", "message_of",
           "record_to_json", "task_context", "task_fields", "unformatted", "uvicorn_options",
           "worker_context"]

FORMATS = ("text", "json")
FALLBACK_EVENT = "log"  # records that name no event: other libraries', a handler's own
# Third-party loggers whose records get an event of their own rather than the fallback.
LOGGER_EVENTS: Mapping[str, str] = {"uvicorn.access": "http.access",
                                     "uvicorn.error": "http.server"}
TASK_FIELDS = ("task_id", "task_type", "queue", "attempt")
FIELDS = (*TASK_FIELDS, "worker")  # copied from a record when known, in this order
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s %(message)s"

_task: ContextVar[Mapping[str, object] | None] = ContextVar("pgtask_log_task", default=None)
# A context variable, not a global: each Worker.run() (several may run in one process, an
# ASGI app's or a test's) names the worker in its own tasks and their handler threads.
_worker: ContextVar[str | None] = ContextVar("pgtask_log_worker", default=None)
_json_handler: list[logging.Handler | None] = [None]  # the one configure() added, if JSON


def task_fields(task: ClaimedTask) -> dict[str, object]:
    """The fields naming `task` in a log line (for `extra=`)."""
    return {"task_id": task.id, "task_type": task.task_type, "queue": task.queue,
            "attempt": task.attempt}


@contextmanager
def task_context(task: ClaimedTask) -> Iterator[None]:
    """While inside, every record logged in this context (a handler's own lines, in its
    thread too when the context is copied there) is about `task`."""
    token = _task.set(task_fields(task))
    try:
        yield
    finally:
        _task.reset(token)


def current_task() -> Mapping[str, object] | None:
    """The fields of the attempt running in this context, if any."""
    return _task.get()


@contextmanager
def worker_context(worker_id: str) -> Iterator[None]:
    """While inside, every record logged in this context (and the tasks and handler
    threads it starts) names the worker `worker_id`."""
    token = _worker.set(worker_id)
    try:
        yield
    finally:
        _worker.reset(token)


class ContextFilter(logging.Filter):
    """Stamps a record with the running task's fields and the worker id, unless the call
    site gave them. A handler filter: it runs in the thread that logs, where the task's
    context is."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _task.get()
        if fields:
            for name, value in fields.items():
                if getattr(record, name, None) is None:
                    setattr(record, name, value)
        worker = _worker.get()
        if worker is not None and getattr(record, "worker", None) is None:
            record.worker = worker
        return True


def _time(created: float) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. 2026-12-04T18:30:00.123Z."""
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _text(value: object, convert: Callable[[object], str] = str) -> str:
    try:
        return convert(value)
    except Exception:  # a value whose __str__ raises: its type is all a line can say
        return f"<unprintable {type(value).__name__}>"


def message_of(record: logging.LogRecord) -> str | None:
    """record.getMessage(), or None when the call's arguments do not fit its format (or a
    value's str() raises): a bad log call must cost its formatting, never its caller (a
    filter's exception reaches the logging call) nor the line."""
    try:
        return record.getMessage()
    except Exception:
        return None


def unformatted(record: logging.LogRecord) -> str:
    """The text of a record message_of() could not format: its format and arguments."""
    return f"{_text(record.msg)} (arguments not formatted: {_text(record.args, repr)})"


def _event(record: logging.LogRecord) -> str:
    event = getattr(record, "event", None)
    if isinstance(event, str) and event:
        return event
    return LOGGER_EVENTS.get(record.name, FALLBACK_EVENT)


def record_to_json(record: logging.LogRecord, exc_text: str | None = None) -> str:
    """One JSON object (one line) for `record`; `exc_text` is its formatted traceback."""
    message = message_of(record)
    if message is None:
        message = unformatted(record)
    line: dict[str, Any] = {"time": _time(record.created), "level": record.levelname.lower(),
                            "logger": record.name, "event": _event(record),
                            "message": message}
    for name in FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            line[name] = value
    line["pid"] = record.process
    if record.exc_info and record.exc_info[0] is not None:
        line["exc_type"] = record.exc_info[0].__name__
    if exc_text:
        line["exc"] = exc_text
    if record.stack_info:
        line["stack"] = record.stack_info
    # An odd value in a field must not cost the line: text for what JSON cannot hold, and
    # text for every field when even that fails (a circular value, non-string keys).
    # json.dumps escapes the newlines of a message or traceback: a record stays one line.
    try:
        return json.dumps(line, default=_text)
    except (TypeError, ValueError, RecursionError):
        return json.dumps({name: value if isinstance(value, str | int | float) else _text(value)
                           for name, value in line.items()})


class JsonFormatter(logging.Formatter):
    """record_to_json as a logging formatter. The traceback is the one cached on the
    record (the scrub filter leaves its cleaned text there), formatted only if absent."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        return record_to_json(record, record.exc_text)


def configure(level: str, fmt: str = "text", text_format: str = TEXT_FORMAT,
              stream: IO[str] | None = None) -> logging.Handler | None:
    """Log to `stream` (stderr) at `level` as text or JSON, like logging.basicConfig: a
    root logger that already has handlers (an embedding app, pytest) is left alone.
    Returns the handler added, if any."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use one of {', '.join(FORMATS)}")
    root = logging.getLogger()
    if root.handlers:
        return None
    root.setLevel(level.upper())
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(text_format))
    root.addHandler(handler)
    if fmt == "json":
        _json_handler[0] = handler
    return handler


def log_fatal(text: str) -> bool:
    """Log why the command stops as a JSON line, if this process logs JSON (so a collector
    reads the last word too); False: say it plainly instead."""
    handler = _json_handler[0]
    if handler is None or handler not in logging.getLogger().handlers:
        return False
    logging.getLogger("pgtask.cli").error("%s", text, extra={"event": "command.failed"})
    return True


def uvicorn_options(fmt: str) -> dict[str, Any]:
    """uvicorn.run() keywords for `fmt`: for JSON, no logging config of uvicorn's own, so
    its server and access records reach the root handler configure() set up."""
    return {"log_config": None} if fmt == "json" else {}
