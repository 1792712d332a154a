"""Run one claimed task and say what became of it (an Outcome), or nothing if it was taken away.

Async handlers run on the event loop; sync handlers run in a thread pool. A handler that
returns succeeds (its return value is the result); Permanent makes the task dead; Cancel
cancels it (with its reason); Retry snoozes it without spending an attempt; any other
exception fails it, to be retried with the queue's backoff. A timeout cancels the run and
fails it. When the worker takes the task away (cancelled by an operator, lease lost,
shutdown) the CancelledError goes back to the runner, which knows why (worker/runs.py) and
what, if anything, to record.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from pgtask.errors import Cancel, Permanent, Retry
from pgtask.logs import task_context
from pgtask.models import ClaimedTask, Outcome
from pgtask.registry import Registry, TaskDef
from pgtask.telemetry import NO_TRACING, AttemptSpan, Tracing
from pgtask.worker.context import TaskContext

log = logging.getLogger("pgtask.worker")
MAX_ERROR_CHARS = 8000

class TimedOut(Exception):
    """The task's own timeout expired (unlike a TimeoutError its handler raised itself)."""

    def __init__(self, error: TimeoutError) -> None:
        super().__init__(str(error))
        self.error = error  # what asyncio raised, for the log and the error hooks


def describe_error(exc: BaseException) -> str:
    """'Type: message' plus the tail of the traceback, capped, for the task's error history."""
    head = f"{type(exc).__name__}: {exc}"
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-8))
    text = f"{head}\n{tb}" if tb.strip() else head
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - 20] + "\n... (truncated)"


def _json_result(value: object) -> tuple[object, str | None]:
    """The result if it can be stored as JSON, else an error saying why not."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value, None
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        return None, f"handler returned a value that is not JSON serializable: {exc}"
    return value, None


class Executor:
    """Runs handlers from a registry; one per worker process."""

    def __init__(self, registry: Registry, threads: int, tracing: Tracing = NO_TRACING) -> None:
        self.registry = registry
        self.threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pgtask-handler")
        # A span per attempt, or the shared no-op: chosen once, at worker start (telemetry).
        self.tracing = tracing

    async def run(self, claimed: ClaimedTask, ctx: TaskContext) -> Outcome:
        # every line of this attempt names it (pgtask.logs); its span is current throughout
        with task_context(claimed), self.tracing.attempt(claimed) as span:
            outcome = await self._attempt(claimed, ctx, span)
            span.ended(outcome)
            return outcome

    async def _attempt(self, claimed: ClaimedTask, ctx: TaskContext,
                       span: AttemptSpan) -> Outcome:
        definition = self.registry.get(claimed.task_type)
        if definition is None:  # not claimable by design; refuse loudly rather than burn it
            return Outcome(claimed.id, claimed.lease_token, "snoozed",
                           error=f"no handler for task type {claimed.task_type!r} in this worker",
                           delay=timedelta(seconds=30))
        try:
            result = await self._call(definition, ctx)
        except TimedOut as timed_out:
            ctx.cancel()
            error = f"TimeoutError: task exceeded its timeout of {definition.timeout:g}s"
            self._report(ctx, timed_out.error, span)
            return Outcome(claimed.id, claimed.lease_token, "failed", error=error)
        except Permanent as exc:
            self._report(ctx, exc, span)
            return Outcome(claimed.id, claimed.lease_token, "dead", error=describe_error(exc))
        except Retry as exc:
            return Outcome(claimed.id, claimed.lease_token, "snoozed", delay=exc.after)
        except Cancel as exc:  # the handler's own decision: no failure, no error hook
            return Outcome(claimed.id, claimed.lease_token, "cancelled", error=exc.reason)
        except Exception as exc:
            return self._failure(claimed, ctx, exc, span)
        value, problem = _json_result(result)
        if problem:
            return Outcome(claimed.id, claimed.lease_token, "dead", error=problem)
        return Outcome(claimed.id, claimed.lease_token, "succeeded", result=value)

    async def _call(self, definition: TaskDef, ctx: TaskContext) -> object:
        if definition.timeout is None:
            return await self._invoke(definition, ctx)
        try:
            async with asyncio.timeout(definition.timeout) as scope:
                return await self._invoke(definition, ctx)
        except TimeoutError as exc:
            if scope.expired():
                raise TimedOut(exc) from exc
            raise

    async def _invoke(self, definition: TaskDef, ctx: TaskContext) -> object:
        if definition.is_async:
            return await definition.handler(ctx)
        loop = asyncio.get_running_loop()
        # In this context's copy: what the attempt set (its task, for the handler's own
        # log lines) is seen in the thread; run_in_executor alone would not carry it.
        running = loop.run_in_executor(self.threads, contextvars.copy_context().run,
                                       definition.handler, ctx)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            # A thread cannot be interrupted: the run lasts until the handler returns (it
            # sees ctx.cancelled), so the worker never starts a second run of this task
            # beside it. A second cancel (the worker tearing down) stops the waiting.
            ctx.cancel()
            await asyncio.wait([running])
            raise

    def _failure(self, claimed: ClaimedTask, ctx: TaskContext, exc: Exception,
                 span: AttemptSpan) -> Outcome:
        self._report(ctx, exc, span)
        return Outcome(claimed.id, claimed.lease_token, "failed", error=describe_error(exc))

    def _report(self, ctx: TaskContext, exc: BaseException, span: AttemptSpan) -> None:
        span.failed(exc)
        log.warning("task %s (%s) attempt %s/%s failed: %s: %s", ctx.id, ctx.type, ctx.attempt,
                    ctx.max_attempts, type(exc).__name__, exc, extra={"event": "task.failed"})
        for hook in self.registry.error_hooks:
            try:
                hook(ctx, exc)
            except Exception:  # a broken hook must not break the worker
                log.exception("on_error hook %r raised", hook, extra={"event": "hook.failed"})

    def close(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
