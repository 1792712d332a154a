"""The worker: wake -> claim a batch -> run -> buffer outcomes -> flush in one round trip.

Around that loop, background services (worker/service.py): the outcome buffer, a LISTEN
connection that wakes it (polling is the safety net), one heartbeat statement for every
task in flight, periodic maintenance (rescue and prune), the scheduler, the HTTP targets'
policy refresh; and a graceful shutdown that releases what it could not finish.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from pgtask.errors import DatabaseUnavailable
from pgtask.models import ClaimedTask, WorkerInfo
from pgtask.registry import Registry
from pgtask.retry import reconnect_delay
from pgtask.store import make_store
from pgtask.store.base import Capability, Store
from pgtask.worker.context import TaskContext
from pgtask.worker.executor import Executor, StopReason
from pgtask.worker.listener import CANCEL_CHANNEL, TASKS_CHANNEL, Listener
from pgtask.worker.outcomes import OutcomeBuffer
from pgtask.worker.scheduler import SchedulerService
from pgtask.worker.service import Service, wait_or_stop
from pgtask.worker.settings import WorkerConfig as WorkerConfig  # where the API finds it
from pgtask.worker.upkeep import Heartbeat, Maintenance
from pgtask.worker.vacuum import HotTableVacuum
from pgtask.worker.wakeup import Wakeup

if TYPE_CHECKING:  # both load heavy libraries (httpx, prometheus_client): only when used
    from pgtask.worker.http.targets import HttpTargets
    from pgtask.worker.metrics import WorkerMetrics

log = logging.getLogger("pgtask.worker")


@dataclass(slots=True)
class _Running:
    claimed: ClaimedTask
    ctx: TaskContext
    job: asyncio.Task[None]


class Worker:
    """One worker process's runtime. `await worker.run()`; `worker.stop()` to shut down.

    targets: POST tasks bound for HTTP targets; metrics: this process's Prometheus hooks.
    """

    _loop: asyncio.AbstractEventLoop  # the loop run() runs on

    def __init__(self, dsn: str, registry: Registry, config: WorkerConfig | None = None, *,
                 targets: HttpTargets | None = None,
                 metrics: WorkerMetrics | None = None) -> None:
        self.dsn = dsn
        self.registry = registry
        self.config = config or WorkerConfig()
        self.targets = targets
        self.metrics = metrics
        if metrics is not None:
            metrics.track(self)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # claim, flush, heartbeat, maintenance and a vacuum may each hold one at once
        self.store: Store = make_store(dsn, max_size=5)
        self._notify = self.config.listen and Capability.NOTIFY in self.store.capabilities
        self._executor = Executor(registry, threads=self.config.concurrency)
        self._running: dict[int, _Running] = {}
        self._stop_reason: dict[int, StopReason] = {}
        self._cancel_asked: set[int] = set()  # runs a cancel NOTIFY named: ask the database
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._beat_now = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []
        self._wakeup = Wakeup(self.store, self.id, self._notify, self.config.poll_interval)
        self._buffer = OutcomeBuffer(self.store, self._wakeup.set, self.config.poll_interval,
                                     self.config.flush_delay)
        self._vacuum = HotTableVacuum(self.store)

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        if not self.registry.tasks and self.targets is None:
            raise ValueError("this worker has no task handlers: pass --handlers MODULE "
                             "(or serve HTTP targets)")
        await self.store.open()
        self._loop = asyncio.get_running_loop()
        try:
            if self.targets is not None:
                await self.targets.open(self.store)
            await self.store.register_worker(self._info())
            log.info("worker %s started: %d slots, queues %s, task types %s", self.id,
                     self.config.concurrency, self.config.queues or "all",
                     ", ".join(self.registry.names()))
            self._background = [asyncio.create_task(s.run(self._stopping))
                                for s in self._services()]
            await self._claim_loop()
            await self._drain()
        finally:
            await self._shut_down()

    async def _shut_down(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._buffer.final_flush()
        await self._vacuum.close()
        if self.targets is not None:
            await self.targets.close()
        try:
            await self.store.deregister_worker(self.id)
        except DatabaseUnavailable as exc:
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
        self._wakeup.set()
        self._slot_freed.set()

    def _info(self) -> WorkerInfo:
        return WorkerInfo(self.id, socket.gethostname(), os.getpid(), self.config.queues,
                          self.registry.names(), self.config.concurrency)

    def _services(self) -> list[Service]:
        services: list[Service] = [
            self._buffer,
            Heartbeat(self.store, self.id, self.config.heartbeat_interval, self._held,
                      self._lease_gone, self._beat_now),
            Maintenance(self.store, self.config.retention, self.config.maintenance_interval)]
        if self._notify:
            services.append(Listener(self.store, [TASKS_CHANNEL, CANCEL_CHANNEL],
                                     self._on_notify, self._wakeup.set))
        services += self.config.services
        if self.targets is not None:
            services.append(self.targets.service)
        if self.config.scheduler and Capability.SCHEDULES in self.store.capabilities:
            services.append(SchedulerService(self.dsn, self.registry.schedules))
        return services

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
            except DatabaseUnavailable as exc:
                delay = reconnect_delay(failures, cap=5.0)
                failures += 1
                log.warning("claim failed (%s); retrying in %.2fs", exc, delay)
                await wait_or_stop(self._stopping, delay)
                continue
            for task in claimed:
                self._start(task)
            if len(claimed) < free:
                self._vacuum.idle()
            await self._wakeup.after_claim(len(claimed), free)

    def _on_notify(self, channel: str, payload: str) -> None:
        """A hint, never a command: any role may NOTIFY any channel. A cancel makes the
        heartbeat ask the database now; the database's answer stops the run, or not."""
        if channel != CANCEL_CHANNEL:
            if self.config.queues is None or payload in self.config.queues:
                self._wakeup.set()
            return
        task_id = int(payload) if payload.isascii() and payload.isdigit() else None
        if task_id is None:
            log.warning("ignored a %s notification whose payload is not a task id: %.80r",
                        CANCEL_CHANNEL, payload)
        elif task_id in self._running:
            self._cancel_asked.add(task_id)
            self._beat_now.set()

    def _lease_gone(self, task_id: int) -> None:
        """The heartbeat found this run's lease no longer held: cancelled or lost."""
        self._take_away(task_id, "cancelled" if task_id in self._cancel_asked else "lost")

    # -- running -----------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def _held(self) -> list[tuple[int, UUID]]:
        return [(r.claimed.id, r.claimed.lease_token) for r in self._running.values()]

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
            self._cancel_asked.discard(claimed.id)
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
                    running.claimed.task_type, "cancelled" if reason == "cancelled"
                    else "lease lost, result will be discarded")
        self._stop_reason[task_id] = reason
        running.ctx.cancel()
        running.job.cancel()

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
