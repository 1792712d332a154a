"""The `pgtask top` snapshot (queues, rates, workers) shared by every reader of one process:
the dashboard, the API and /metrics of `pgtask serve` take it at most once per `max_age`
seconds, however many clients poll."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, Protocol

from pgtask.ops.snapshot import Snapshot, from_rows
from pgtask.ops.window import Window


class TopRows(Protocol):
    """Where the rows of a frame come from (store.base.Operator.top_rows, or a pool's)."""

    def top_rows(self, *, since: datetime | None = None) -> dict[str, list[dict[str, Any]]]: ...


class Snapshots:
    """The latest Snapshot, refreshed when older than `max_age` seconds; thread-safe.

    The window keeps the last five minutes of finished work between refreshes, so each one
    reads only what finished since the previous (see window.py).
    """

    def __init__(self, source: TopRows, max_age: float = 1.0) -> None:
        self._source = source
        self._max_age = max_age
        self._window = Window()
        self._lock = threading.Lock()
        self._last: Snapshot | None = None
        self._taken = 0.0

    def take(self) -> Snapshot:
        with self._lock:
            if self._last is None or time.monotonic() - self._taken >= self._max_age:
                rows = self._source.top_rows(since=self._window.until)
                self._last = from_rows(rows, self._window)
                self._taken = time.monotonic()
            return self._last
