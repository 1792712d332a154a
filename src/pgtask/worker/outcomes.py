"""The outcome buffer: finished runs wait here a moment and go to the database together.

One `finish` round trip records every outcome (and log line) gathered since the last one, so
while a flush is in flight the next batch builds up by itself, like a group commit. A flush
that fails keeps its outcomes for the next try; an outcome whose lease was lost meanwhile is
reported and dropped by the database (fencing), never recorded over a newer run.

One flush at a time (a lock): the final flush at shutdown waits for one in flight instead of
cancelling it, since a flush cut off mid-way may have been recorded or not, and a second
try would then report released tasks as lost. A flush that failed without an answer is such
a flush; its outcomes are sent again, and one the database no longer takes is reported as
what it may be: recorded by the first try, or lost.

Log lines stream: a handler's logger hands each line over as it is written (stream_log, from
any thread), and the flush loop sends what has gathered at least every LOG_FLUSH_INTERVAL, so
lines reach the database within about a second while the task runs and only the last batch
is lost with a killed worker. Bounded: at most MAX_PENDING_LOG_LINES wait here (the database
away); lines past that are dropped, counted, and the count is logged once it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from pgtask.errors import DatabaseUnavailable
from pgtask.models import LogLine, Outcome
from pgtask.retry import reconnect_delay
from pgtask.store.base import Store
from pgtask.worker.service import within

log = logging.getLogger("pgtask.worker")
LOG_FLUSH_INTERVAL = 0.5  # seconds: how stale a streamed log line may get before it is sent
MAX_PENDING_LOG_LINES = 10_000  # waiting to be sent; each line is at most 4,000 characters


class OutcomeBuffer:
    """A worker service: flush while the worker runs, and once more (final_flush) after."""

    def __init__(self, store: Store, wake: Callable[[], None], poll_interval: float,
                 flush_delay: float = 0.0, scrub: Callable[[str], str] = str) -> None:
        self._store = store
        self._scrub = scrub  # the worker's own secrets out of every stored text (scrub.py)
        self._wake = wake  # called when a retried task falls due before the next poll
        self._poll_interval = poll_interval
        self._flush_delay = flush_delay
        self._outcomes: list[Outcome] = []
        self._logs: list[LogLine] = []
        self._wanted = asyncio.Event()
        self._one_at_a_time = asyncio.Lock()
        self._unsure: set[int] = set()  # ids sent by a flush that got no answer
        self._streamed: deque[LogLine] = deque()  # appended from handler threads
        self._dropped_logs = 0

    def stream_log(self, line: LogLine) -> None:
        """Take one log line of a running task (thread-safe: a deque append); the flush loop
        sends it within LOG_FLUSH_INTERVAL."""
        if len(self._streamed) + len(self._logs) >= MAX_PENDING_LOG_LINES:
            self._dropped_logs += 1
            return
        self._streamed.append(line)

    def add(self, outcome: Outcome | None, logs: list[LogLine]) -> None:
        """Buffer what a run came to: every text the worker stores passes through here."""
        if outcome is not None and outcome.error:
            outcome.error = self._scrub(outcome.error)
        for line in logs:
            line.message = self._scrub(line.message)
        if logs:
            self._logs.extend(logs)
        if outcome is not None:
            self._outcomes.append(outcome)
        self._wanted.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Flush whenever something is waiting; back off while the database is away. Runs
        until cancelled, `stopping` or not: a draining worker still finishes tasks."""
        failures = 0
        while True:
            if not self._wanted.is_set():
                try:  # woken by an outcome, or on time for the streamed log lines
                    async with asyncio.timeout(LOG_FLUSH_INTERVAL):
                        await self._wanted.wait()
                except TimeoutError:
                    if not self._streamed:
                        continue
            if self._flush_delay:
                await asyncio.sleep(self._flush_delay)
            self._wanted.clear()
            try:
                await self.flush()
                failures = 0
            except DatabaseUnavailable as exc:
                delay = reconnect_delay(failures, cap=5.0)
                failures += 1
                log.warning("recording outcomes failed (%s); retrying in %.2fs", exc, delay,
                            extra={"event": "outcomes.failed"})
                await asyncio.sleep(delay)
                self._wanted.set()

    async def flush(self) -> None:
        async with self._one_at_a_time:
            await self._flush()

    async def _flush(self) -> None:
        self._take_streamed()
        outcomes, self._outcomes = self._outcomes, []
        logs, self._logs = self._logs, []
        if not outcomes and not logs:
            return
        try:
            finished = await self._store.finish(outcomes, logs)
        except BaseException:
            self._outcomes[:0] = outcomes  # keep them for the next try
            self._logs[:0] = logs
            self._unsure.update(o.id for o in outcomes)
            raise
        if self._dropped_logs:
            log.warning("%d task log line(s) were dropped: more than %d were waiting for the "
                        "database", self._dropped_logs, MAX_PENDING_LOG_LINES,
                        extra={"event": "task.logs_dropped"})
            self._dropped_logs = 0
        due = finished.next_due_in
        if due is not None and due < self._poll_interval:
            asyncio.get_running_loop().call_later(max(0.0, due), self._wake)
        for outcome in outcomes:
            if outcome.id in finished.applied:
                pass
            elif outcome.id in self._unsure:
                log.info("task %s: its %s outcome was sent again after an unanswered try, "
                         "and the database no longer takes it: either that try recorded "
                         "it, or the lease was lost meanwhile", outcome.id, outcome.kind,
                         extra={"event": "outcome.unconfirmed", "task_id": outcome.id})
            else:
                log.warning("task %s: lease was lost before its %s outcome was recorded; "
                            "the late result is discarded", outcome.id, outcome.kind,
                            extra={"event": "outcome.discarded", "task_id": outcome.id})
            self._unsure.discard(outcome.id)

    def _take_streamed(self) -> None:
        """Move the streamed lines to this flush, before the outcomes that follow them (a
        line appended meanwhile from a thread waits for the next flush)."""
        for _ in range(len(self._streamed)):
            line = self._streamed.popleft()
            line.message = self._scrub(line.message)
            self._logs.append(line)

    async def final_flush(self, until: float) -> None:
        """At shutdown: try until loop time `until`, then say what could not be recorded."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                await within(until - loop.time(), self.flush())
                return
            except (DatabaseUnavailable, TimeoutError) as exc:
                log.warning("final flush failed (%s)", exc,
                            extra={"event": "outcomes.final_flush_failed"})
            delay = reconnect_delay(attempt, cap=2.0)
            attempt += 1
            if loop.time() + delay >= until:
                break
            await asyncio.sleep(delay)
        if self._outcomes:
            log.error("%d outcome(s) could not be recorded; their leases will expire and the "
                      "tasks will run again", len(self._outcomes), extra={"event": "outcomes.lost"})
