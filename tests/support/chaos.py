"""A scriptable task for reliability tests: the payload says what the handler does.

    {"do": "ok"}                      return {"ok": true, "pid": ...}
    {"do": "raise"}                   raise RuntimeError
    {"do": "permanent"}               raise pgtask.Permanent
    {"do": "retry", "after": 0.1}     raise pgtask.Retry(after)
    {"do": "sleep", "seconds": 2}     sleep, then succeed
    {"do": "sleep", "seconds": 2, "first_seconds": 60}
                                      the same, sleeping first_seconds on attempt 1 (a task
                                      that cannot finish before the test kills its worker)
    {"do": "hang"}                    sleep until cancelled (records attempt -1 when it is)
    {"do": "exit"}                    sys.exit inside the worker (os._exit: no cleanup)
    {"do": "kill"}                    SIGKILL the worker process

Every run is recorded in table chaos_runs (task id, attempt, pid) so tests can count runs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import psycopg

import pgtask

registry = pgtask.Registry()
_RECORD = "insert into public.chaos_runs (task_id, attempt, pid) values (%s, %s, %s)"
SETUP = ("create table if not exists public.chaos_runs (task_id bigint, attempt int, pid int, "
         "at timestamptz default clock_timestamp())")


_conn: psycopg.Connection | None = None
_lock = threading.Lock()


def _record(task, attempt: int | None = None) -> None:
    """One row per run, on one connection per worker process."""
    global _conn
    dsn = os.environ.get("CHAOS_DSN")
    if not dsn:
        return
    with _lock:
        if _conn is None or _conn.closed:
            _conn = psycopg.connect(dsn, autocommit=True)
        _conn.execute(_RECORD, (task.id, task.attempt if attempt is None else attempt, os.getpid()))


@registry.task("chaos.run", max_attempts=3, title="Chaos",
               description="Does what its payload says.")
async def chaos(task):
    await asyncio.to_thread(_record, task)
    action = task.payload.get("do", "ok")
    if action == "raise":
        raise RuntimeError(f"chaos raise on attempt {task.attempt}")
    if action == "permanent":
        raise pgtask.Permanent("chaos permanent")
    if action == "retry":
        raise pgtask.Retry(after=task.payload.get("after", 0.1))
    if action == "sleep":
        seconds = task.payload.get("seconds", 1)
        if task.attempt == 1:
            seconds = task.payload.get("first_seconds", seconds)
        await asyncio.sleep(seconds)
    if action == "hang":
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.to_thread(_record, task, -1)  # attempt -1: "saw the cancellation"
            raise
    if action == "exit":
        os._exit(3)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    return {"ok": True, "pid": os.getpid()}


@registry.task("chaos.sync", max_attempts=3)
def chaos_sync(task):
    task.logger.info("sync run of %s", task.id)
    return {"ok": True}


@registry.task("chaos.slow", max_attempts=3, timeout=0.5)
async def chaos_slow(task):
    await asyncio.sleep(task.payload.get("seconds", 5))
    return {"ok": True}
