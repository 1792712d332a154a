"""What a handler receives: the task, a logger stored with it, cancellation, lease control."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pgtask.logs import task_fields
from pgtask.models import ClaimedTask, LogLine

_log = logging.getLogger("pgtask.task")
MAX_LOG_LINES = 1000  # per attempt; beyond this lines go to the process log only
MAX_LOG_LINE = 4000  # characters


class TaskLogger:
    """A logger whose lines are stored with the task (see `pgtask show`) and also logged.

    With a `sink` (the worker's outcome buffer) each line is handed over as it is written,
    so it reaches the database while the task runs and survives a killed worker; without
    one (a dev run) the lines are kept in `lines`. Safe to call from a handler's thread."""

    def __init__(self, task: ClaimedTask, sink: Callable[[LogLine], None] | None = None) -> None:
        self._task = task
        self._sink = sink
        self._stored = 0
        self.lines: list[LogLine] = []

    def _add(self, level: int, msg: str, args: tuple[Any, ...]) -> None:
        text = (msg % args) if args else str(msg)
        _log.log(level, "task %s (%s): %s", self._task.id, self._task.task_type, text,
                 extra={"event": "task.log", **task_fields(self._task)})
        if self._stored >= MAX_LOG_LINES:
            return
        self._stored += 1
        line = LogLine(self._task.id, self._task.attempt, datetime.now(UTC),
                       logging.getLevelName(level).lower(), text[:MAX_LOG_LINE])
        if self._sink is not None:
            self._sink(line)
        else:
            self.lines.append(line)

    def debug(self, msg: str, *args: Any) -> None:
        self._add(logging.DEBUG, msg, args)

    def info(self, msg: str, *args: Any) -> None:
        self._add(logging.INFO, msg, args)

    def warning(self, msg: str, *args: Any) -> None:
        self._add(logging.WARNING, msg, args)

    def error(self, msg: str, *args: Any) -> None:
        self._add(logging.ERROR, msg, args)


class TaskContext:
    """The task a handler runs: its data, a logger, cancellation and lease control."""

    # Built for every task, so it stays cheap: the logger and the asyncio event are made on
    # first use, and "cancelled" is a plain flag (setting a bool is atomic under the GIL;
    # a threading.Event per task cost ~13% of worker CPU in the drain profile).
    __slots__ = ("_claimed", "_logger", "_cancelled", "_cancel_event", "_loop", "_heartbeat",
                 "_log_sink")

    def __init__(self, claimed: ClaimedTask, loop: asyncio.AbstractEventLoop | None = None,
                 heartbeat: Callable[[], None] | None = None,
                 log_sink: Callable[[LogLine], None] | None = None) -> None:
        self._claimed = claimed
        self._logger: TaskLogger | None = None
        self._cancelled = False
        self._cancel_event: asyncio.Event | None = None
        self._loop = loop
        self._heartbeat = heartbeat
        self._log_sink = log_sink

    @property
    def logger(self) -> TaskLogger:
        """A logger whose lines are stored with the task (and logged as usual)."""
        if self._logger is None:
            self._logger = TaskLogger(self._claimed, self._log_sink)
        return self._logger

    @property
    def log_lines(self) -> list[LogLine]:
        """Lines not yet handed to a sink (all of them when there is none)."""
        return self._logger.lines if self._logger is not None else []

    @property
    def id(self) -> int:
        return self._claimed.id

    @property
    def type(self) -> str:
        return self._claimed.task_type

    @property
    def queue(self) -> str:
        return self._claimed.queue

    @property
    def payload(self) -> dict[str, Any]:
        return self._claimed.payload

    @property
    def attempt(self) -> int:
        return self._claimed.attempt

    @property
    def max_attempts(self) -> int:
        return self._claimed.max_attempts

    @property
    def idempotency_key(self) -> str | None:
        return self._claimed.idempotency_key

    @property
    def run_at(self) -> datetime:
        return self._claimed.run_at

    @property
    def cancelled(self) -> bool:
        """True once the task was cancelled, timed out, lost its lease or the worker is stopping."""
        return self._cancelled

    def cancel(self) -> None:
        """Ask the handler to stop (thread-safe). Async handlers are also interrupted."""
        self._cancelled = True
        if self._cancel_event is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._cancel_event.set)

    async def wait_cancelled(self) -> None:
        """Wait until the task is cancelled (for async handlers that want to notice it)."""
        if self._cancel_event is None:
            self._cancel_event = asyncio.Event()
            self._loop = asyncio.get_running_loop()
        if self.cancelled:
            return
        await self._cancel_event.wait()

    def extend_lease(self) -> None:
        """Heartbeat now instead of at the next interval (the worker extends leases anyway)."""
        if self._heartbeat is not None:
            self._heartbeat()

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.type} attempt {self.attempt}/{self.max_attempts}>"
