"""The worker: wake -> claim a batch -> run -> buffer outcomes -> flush in one round trip.

Around that loop: a LISTEN connection that wakes it (polling is the safety net), one
heartbeat statement for every task in flight, periodic maintenance (rescue and prune), and a
graceful shutdown that releases what it could not finish.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from pgtask.models import ClaimedTask, WorkerInfo
from pgtask.registry import Registry
from pgtask.retry import reconnect_delay
from pgtask.store import DB_ERRORS, Store, open_store
from pgtask.worker.context import TaskContext
from pgtask.worker.executor import Executor, StopReason
from pgtask.worker.listener import CANCEL_CHANNEL, TASKS_CHANNEL, Listener
from pgtask.worker.outcomes import OutcomeBuffer
from pgtask.worker.vacuum import HotTableVacuum
from pgtask.worker.wakeup import Wakeup

log = logging.getLogger("pgtask.worker")
Service = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class WorkerConfig:
    queues: list[str] | None = None  # None: every queue
    # 100: a claim-and-finish round costs ~1.4 ms of fixed Postgres CPU, ~155 us a task in
    # batches of 10 against ~70 us in batches of 100 (bench/README.md, Findings).
    concurrency: int = 100
    poll_interval: float = 1.0  # seconds between claims when idle (the safety net)
    heartbeat_interval: float = 5.0
    shutdown_timeout: float = 30.0
    flush_delay: float = 0.0  # seconds to gather outcomes before a flush
    retention: timedelta | None = timedelta(days=7)
    maintenance_interval: float = 10.0
    listen: bool = True
    scheduler: bool = True  # take turns leading the cron/interval schedules (Postgres)
    services: list[Service] = field(default_factory=list)  # extra background loops

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.poll_interval <= 0 or self.heartbeat_interval <= 0:
            raise ValueError("poll and heartbeat intervals must be positive")
        if self.shutdown_timeout < 0:
            raise ValueError("shutdown timeout must not be negative")


@dataclass(slots=True)
class _Running:
    claimed: ClaimedTask
    ctx: TaskContext
    job: asyncio.Task


class Worker:
    """One worker process's runtime. `await worker.run()`; `worker.stop()` to shut down."""

    def __init__(self, dsn: str, registry: Registry, config: WorkerConfig | None = None,
                 targets=None) -> None:
        self.dsn = dsn
        self.registry = registry
        self.config = config or WorkerConfig()
        self.targets = targets  # pgtask.worker.http.HttpTargets: POST tasks to HTTP targets
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.store: Store | None = None
        self._executor = Executor(registry, threads=self.config.concurrency)
        self._running: dict[int, _Running] = {}
        self._stop_reason: dict[int, StopReason] = {}
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._beat_now = asyncio.Event()
        self._background: list[asyncio.Task] = []
        self._wakeup: Wakeup | None = None
        self.metrics = None  # pgtask.worker.metrics.WorkerMetrics (--metrics-port)

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        if not self.registry.tasks and self.targets is None:
            raise ValueError("this worker has no task handlers: pass --handlers MODULE "
                             "(or serve HTTP targets)")
        # claim, flush, heartbeat, maintenance and a vacuum may each hold one at once
        self.store = await open_store(self.dsn, max_size=5)
        self._loop = asyncio.get_running_loop()
        notify_on = self.config.listen and self.store.supports_notify
        self._wakeup = Wakeup(self.store, self.id, notify_on, self.config.poll_interval,
                              DB_ERRORS)
        self._buffer = OutcomeBuffer(self.store, DB_ERRORS, self._wakeup.set,
                                     self.config.poll_interval, self.config.flush_delay)
        self._vacuum = HotTableVacuum(self.store, DB_ERRORS)
        try:
            if self.targets is not None:
                await self.targets.open(self.store)
            await self.store.register_worker(self._info())
            log.info("worker %s started: %d slots, queues %s, task types %s", self.id,
                     self.config.concurrency, self.config.queues or "all",
                     ", ".join(self.registry.names()))
            self._start_background()
            await self._claim_loop()
            await self._drain()
        finally:
            for task in self._background:
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
            await self._buffer.final_flush()
            await self._vacuum.close()
            if self.targets is not None:
                await self.targets.close()
            try:
                await self.store.deregister_worker(self.id)
            except DB_ERRORS as exc:
                log.warning("could not deregister worker %s: %s", self.id, exc)
            await self.store.close()
            self._executor.close()
            log.info("worker %s stopped", self.id)

    def stop(self) -> None:
        """Stop claiming, finish or release what runs, then return from run()."""
        if not self._stopping.is_set():
            log.info("worker %s stopping: waiting up to %gs for %d task(s)", self.id,
                     self.config.shutdown_timeout, len(self._running))
        self._stopping.set()
        if self._wakeup is not None:  # None until run() has opened the store
            self._wakeup.set()
        self._slot_freed.set()

    def _info(self) -> WorkerInfo:
        return WorkerInfo(self.id, socket.gethostname(), os.getpid(), self.config.queues,
                          self.registry.names(), self.config.concurrency)

    def _start_background(self) -> None:
        loops = [self._buffer.run(), self._heartbeat_loop(), self._maintenance_loop()]
        if self.config.listen and self.store.supports_notify:
            listener = Listener(self.store, [TASKS_CHANNEL, CANCEL_CHANNEL],
                                self._on_notify, self._wakeup.set)
            loops.append(listener.run(self._stopping))
        services = list(self.config.services)
        if self.targets is not None:
            services.append(self.targets.service)
        if self.config.scheduler and self.store.backend == "postgres":
            from pgtask.worker.scheduler import run_scheduler

            services.append(lambda stopping: run_scheduler(
                self.dsn, stopping, schedules=self.registry.schedules))
        loops += [service(self._stopping) for service in services]
        self._background = [asyncio.create_task(c) for c in loops]

    # -- claiming ----------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        failures = 0
        types = self.registry.names()
        while not self._stopping.is_set():
            free = self.config.concurrency - len(self._running)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            self._wakeup.clear()
            try:
                claimed = await self.store.claim(self.config.queues, self.id, free, types,
                                                 with_targets=self.targets is not None)
                failures = 0
            except DB_ERRORS as exc:
                delay = reconnect_delay(failures, cap=5.0)
                failures += 1
                log.warning("claim failed (%s: %s); retrying in %.2fs", type(exc).__name__,
                            str(exc).strip().splitlines()[0] if str(exc).strip() else "", delay)
                await self._sleep(delay)
                continue
            for task in claimed:
                self._start(task)
            if len(claimed) < free:
                self._vacuum.idle()
            await self._wakeup.after_claim(len(claimed), free)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    def _on_notify(self, channel: str, payload: str) -> None:
        if channel == CANCEL_CHANNEL:
            self._take_away(int(payload), "cancelled")
        elif self.config.queues is None or payload in self.config.queues:
            self._wakeup.set()

    # -- running -----------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def _start(self, claimed: ClaimedTask) -> None:
        if self.metrics is not None:
            self.metrics.observe_claim(
                claimed.queue, (claimed.attempted_at - claimed.run_at).total_seconds())
        ctx = TaskContext(claimed, self._loop, heartbeat=self._beat_now.set)
        job = asyncio.create_task(self._run_one(claimed, ctx))
        self._running[claimed.id] = _Running(claimed, ctx, job)

    async def _run_one(self, claimed: ClaimedTask, ctx: TaskContext) -> None:
        started = self._loop.time()
        try:
            if self.targets is not None and self.targets.serves(claimed):
                outcome = await self.targets.run(claimed, self._stop_reason)
            else:
                outcome = await self._executor.run(claimed, ctx, self._stop_reason)
        finally:
            self._running.pop(claimed.id, None)
            self._slot_freed.set()
        if self.metrics is not None:
            self.metrics.observe_outcome(claimed.queue, claimed.task_type,
                                         outcome.kind if outcome is not None else "lost",
                                         self._loop.time() - started)
        self._buffer.add(outcome, ctx.log_lines)
        self._vacuum.finished(1)  # its claim and its outcome each leave a dead tuple
        if len(self._running) < self.config.concurrency:
            self._wakeup.set()

    def _take_away(self, task_id: int, reason: StopReason) -> None:
        running = self._running.get(task_id)
        if running is None:
            return
        log.warning("task %s (%s): %s; stopping its handler", task_id,
                    running.claimed.task_type,
                    "cancelled" if reason == "cancelled" else "lease lost, result will be discarded")
        self._stop_reason[task_id] = reason
        running.ctx.cancel()
        running.job.cancel()

    # -- heartbeats, maintenance -----------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._beat_now.wait(), self.config.heartbeat_interval)
            except TimeoutError:
                pass
            self._beat_now.clear()
            held = [(r.claimed.id, r.claimed.lease_token) for r in self._running.values()]
            try:
                lost = await self.store.heartbeat(self.id, held)
            except DB_ERRORS as exc:
                log.warning("heartbeat failed (%s)", type(exc).__name__)
                continue
            for task_id in lost:
                self._take_away(task_id, "lost")

    async def _maintenance_loop(self) -> None:
        while True:
            try:
                await self.store.maintain(self.config.retention)
            except DB_ERRORS as exc:
                log.warning("maintenance failed (%s)", type(exc).__name__)
            await asyncio.sleep(self.config.maintenance_interval)

    # -- shutdown ----------------------------------------------------------------------

    async def _drain(self) -> None:
        jobs = [r.job for r in self._running.values()]
        if jobs:
            await asyncio.wait(jobs, timeout=self.config.shutdown_timeout)
        leftover = list(self._running)
        if leftover:
            log.warning("releasing %d unfinished task(s) back to their queues", len(leftover))
        for task_id in leftover:
            self._stop_reason[task_id] = "shutdown"
            running = self._running[task_id]
            running.ctx.cancel()
            running.job.cancel()
        remaining = [r.job for r in self._running.values()]
        if remaining:
            await asyncio.wait(remaining, timeout=5)
