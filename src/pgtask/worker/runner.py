"""The worker: wake -> claim a batch -> run -> buffer outcomes -> flush in one round trip.

Around that loop, background services (worker/service.py): the outcome buffer, a LISTEN
connection that wakes it (polling is the safety net), one heartbeat statement for every
task in flight, periodic maintenance (rescue and prune), the scheduler, the HTTP targets'
policy refresh; and a graceful shutdown that releases what it could not finish.

What it runs are runs (worker/runs.py), one per claim, known by (task id, lease token).
Every database call has a deadline (the store's), so no silent network path wedges a loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING

from pgtask.errors import DatabaseUnavailable
from pgtask.logs import task_fields, worker_context
from pgtask.models import ClaimedTask, ClaimWait, Outcome, WorkerInfo
from pgtask.registry import Registry
from pgtask.retry import reconnect_delay
from pgtask.store import make_store
from pgtask.store.base import Capability, Store
from pgtask.store.preflight import preflight
from pgtask.telemetry import choose_tracing
from pgtask.undecodable import undecodable
from pgtask.worker.context import TaskContext
from pgtask.worker.executor import Executor
from pgtask.worker.hints import Hints
from pgtask.worker.listener import CANCEL_CHANNEL, TASKS_CHANNEL, Listener
from pgtask.worker.outcomes import OutcomeBuffer
from pgtask.worker.runs import Run, Runs, StopReason
from pgtask.worker.scheduler import SchedulerService
from pgtask.worker.scrub import ScrubFilter, worker_secrets
from pgtask.worker.service import Background, Service, wait_for_either, wait_or_stop, within
from pgtask.worker.settings import WorkerConfig as WorkerConfig  # where the API finds it
from pgtask.worker.upkeep import Heartbeat, Maintenance
from pgtask.worker.vacuum import HotTableVacuum
from pgtask.worker.wakeup import Wakeup

if TYPE_CHECKING:  # both load heavy libraries (httpx, prometheus_client): only when used
    from pgtask.worker.http.targets import HttpTargets
    from pgtask.worker.metrics import WorkerMetrics

log = logging.getLogger("pgtask.worker")


class Worker:
    """One worker process's runtime. `await worker.run()`; `worker.stop()` to shut down.

    targets: POST tasks bound for HTTP targets; metrics: this process's Prometheus hooks.
    """

    _loop: asyncio.AbstractEventLoop  # the loop run() runs on
    _stop_at: float  # time.monotonic() of the first stop()

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
        self.store: Store = make_store(dsn, max_size=5, deadline=self.config.db_timeout)
        self._notify = self.config.listen and Capability.NOTIFY in self.store.capabilities
        self._runs = Runs()
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()  # set once registered and claiming (an app awaits it)
        self._slot_freed = asyncio.Event()
        self._beat_now = asyncio.Event()
        self._background = Background(failed=self.stop)
        self._wakeup = Wakeup(self.store, self.id, self._notify, self.config.poll_interval,
                              limits=self._claim_wait, stopping=self._stopping)
        self._scrub = worker_secrets(dsn, targets)
        # A span per attempt when OpenTelemetry is configured, else a no-op (pgtask.telemetry).
        tracing = choose_tracing(self.id, self._scrub)
        self._executor = Executor(registry, threads=self.config.concurrency, tracing=tracing)
        if targets is not None:
            targets.use_tracing(tracing)
        self._log_filter = ScrubFilter(self._scrub)
        self._buffer = OutcomeBuffer(self.store, self._wakeup.set, self.config.poll_interval,
                                     self.config.flush_delay,
                                     scrub=self._scrub)
        self._heartbeat = Heartbeat(self.store, self.id, self.config.heartbeat_interval,
                                    self._runs, self._lease_gone, self._beat_now,
                                    self._register)
        self._vacuum = HotTableVacuum(self.store)

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        if not self.registry.tasks and self.targets is None:
            raise ValueError("this worker has no task handlers: pass --handlers MODULE "
                             "(or serve HTTP targets)")
        self._log_filter.install()  # before anything logs: a driver error may quote the DSN
        try:
            # every record of this run (its tasks, handler threads) names it (pgtask.logs)
            with worker_context(self.id):
                await self._run()
        finally:
            self._log_filter.remove()

    async def _run(self) -> None:
        await preflight(self.dsn)  # one line that says what to fix, before anything starts
        await self.store.open()
        self._loop = asyncio.get_running_loop()
        try:
            if self.targets is not None:
                self.targets.use_database_id(await self.store.database_id())
                await self.targets.open(self.store)
            await self._register()
            log.info("worker %s started: %d slots, queues %s, task types %s", self.id,
                     self.config.concurrency, self.config.queues or "all",
                     ", ".join(self.registry.names()), extra={"event": "worker.started"})
            self._background.start(self._services(), self._stopping)
            self.started.set()
            await self._claim_loop()
            await self._drain()
        finally:
            await self._shut_down()
        if self._background.broken is not None:
            name, error = self._background.broken
            raise RuntimeError(self._scrub(f"worker service {name} failed: {error}")) from error

    async def _register(self) -> None:
        await self.store.register_worker(self._info())
        # Enqueues by name anywhere (SQL, CLI, HTTP, raw INSERT) take these options.
        await self.store.register_task_types(self.id, self.registry.definitions())

    async def _shut_down(self) -> None:
        # Recording the last outcomes and leaving get db_timeout + 2 s in all, so that the
        # worker stops whatever the network does. Outcomes first, while the heartbeat still
        # holds their leases; a flush in flight is waited for (worker/outcomes.py says why).
        until = asyncio.get_running_loop().time() + self.config.db_timeout + 2
        await self._buffer.final_flush(until)
        await self._background.stop()
        await self._vacuum.close()
        if self.targets is not None:
            await self.targets.close()
        try:
            left = max(0.5, until - asyncio.get_running_loop().time())
            await within(left, self.store.deregister_worker(self.id))
        except (DatabaseUnavailable, TimeoutError) as exc:
            log.warning("could not deregister worker %s (%s): its row is pruned as stale",
                        self.id, exc, extra={"event": "worker.deregister_failed"})
        await self.store.close()
        self._executor.close()
        log.info("worker %s stopped", self.id, extra={"event": "worker.stopped"})

    def stop(self) -> None:
        """Stop claiming, finish or release what runs, then return from run()."""
        if not self._stopping.is_set():
            log.info("worker %s stopping: waiting up to %gs for %d task(s)", self.id,
                     self.config.shutdown_timeout, len(self._runs),
                     extra={"event": "worker.stopping"})
            self._stop_at = time.monotonic()
        self._stopping.set()
        self._wakeup.set()
        self._slot_freed.set()

    def _info(self) -> WorkerInfo:
        return WorkerInfo(self.id, socket.gethostname(), os.getpid(), self.config.queues,
                          self.registry.names(), self.config.concurrency)

    def _services(self) -> list[Service]:
        services: list[Service] = [
            self._buffer, self._heartbeat,
            Maintenance(self.store, self.config.retention, self.config.maintenance_interval,
                        ready=self._heartbeat.healthy)]
        if self._notify:
            hints = Hints(self.config.queues, self._runs, self._wakeup.set, self._beat_now)
            services.append(Listener(self.store, [TASKS_CHANNEL, CANCEL_CHANNEL], hints,
                                     self._wakeup.set))
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
            free = self.config.concurrency - len(self._runs)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            if not self._heartbeat.healthy.is_set():
                # After an outage: renew what runs before claiming, or this very claim
                # would rescue our own expired leases and take the tasks again.
                await wait_for_either(self._heartbeat.healthy, self._stopping)
                continue
            self._wakeup.clear()
            try:
                claimed = await self.store.claim(self.config.queues, self.id, free, types,
                                                 with_targets=self.targets is not None)
                failures = 0
            except DatabaseUnavailable as exc:
                self._heartbeat.suspect()
                delay = reconnect_delay(failures, cap=5.0)
                failures += 1
                log.warning("claim failed (%s); retrying in %.2fs", exc, delay,
                            extra={"event": "claim.failed"})
                await wait_or_stop(self._stopping, delay)
                continue
            for task in claimed:
                self._start(task)
            if claimed:
                self._heartbeat.claimed(min(t.lease.total_seconds() for t in claimed))
            if len(claimed) < free:
                self._vacuum.idle()
            await self._wakeup.after_claim(len(claimed), free)

    async def _claim_wait(self) -> ClaimWait:
        """After a short claim: did a queue's limit hold ready work back (worker/wakeup.py)?"""
        return await self.store.claim_wait(self.config.queues, self.registry.names(),
                                           with_targets=self.targets is not None)

    def _lease_gone(self, task_id: int) -> None:
        """The heartbeat found this task's lease no longer held: cancelled or lost."""
        for run in self._runs.of_task(task_id):
            self._take_away(run, "cancelled" if run.cancel_asked else "lost")

    # -- running -----------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._runs)

    def _start(self, claimed: ClaimedTask) -> None:
        if self.metrics is not None:
            self.metrics.observe_claim(
                claimed.queue, (claimed.attempted_at - claimed.run_at).total_seconds())
        run = Run(claimed, TaskContext(claimed, self._loop, heartbeat=self._beat_now.set,
                                       log_sink=self._buffer.stream_log))
        stale = self._runs.add(run)
        for earlier in stale:  # the database gave the task a new lease: the old one is gone
            self._take_away(earlier, "lost")
        run.job = asyncio.create_task(self._run_one(run, stale))

    async def _run_one(self, run: Run, stale: list[Run]) -> None:
        claimed = run.claimed
        started = self._loop.time()
        outcome: Outcome | None = None
        try:
            for earlier in stale:  # never two handlers of one task at once in this process
                await earlier.ended.wait()
            if (problem := undecodable(claimed)) is not None:
                # Loaded as RawJson (store/postgres/decode.py): no handler or target can
                # be given it, and every retry would find the same text. Dead at once.
                log.warning("task %s (%s): %s; failed for good", claimed.id,
                            claimed.task_type, problem,
                            extra={"event": "task.undecodable", **task_fields(claimed)})
                outcome = Outcome(claimed.id, claimed.lease_token, "dead", error=problem)
            elif self.targets is not None and self.targets.serves(claimed):
                outcome = await self.targets.run(claimed)
            else:
                outcome = await self._executor.run(claimed, run.ctx)
        except asyncio.CancelledError:
            if run.stop_reason is None:
                raise  # not ours: the worker itself is being torn down
            if run.stop_reason == "shutdown":  # put back, its attempt refunded
                outcome = Outcome(claimed.id, claimed.lease_token, "released")
            # cancelled or lost: the database has moved on, there is nothing to record
        finally:
            self._runs.remove(run)
            self._slot_freed.set()
        if run.released:
            return
        if self.metrics is not None:
            self.metrics.observe_outcome(claimed.queue, claimed.task_type,
                                         outcome.kind if outcome is not None else "lost",
                                         self._loop.time() - started)
        self._buffer.add(outcome, run.ctx.log_lines)
        self._vacuum.finished(1)  # its claim and its outcome each leave a dead tuple
        if len(self._runs) < self.config.concurrency:
            self._wakeup.set()

    def _take_away(self, run: Run, reason: StopReason) -> None:
        if run.stop(reason) and reason != "shutdown":
            log.warning("task %s (%s): %s; stopping its handler", run.claimed.id,
                        run.claimed.task_type, "cancelled" if reason == "cancelled"
                        else "lease lost, result will be discarded",
                        extra={"event": "task.stopped", **task_fields(run.claimed)})

    # -- shutdown ----------------------------------------------------------------------

    async def _drain(self) -> None:
        jobs = [r.job for r in self._runs if r.job is not None]
        if jobs:
            # Counted from stop(), not from here: a claim in flight may have taken its
            # deadline to give up on a dead path before the claim loop returned.
            left = self._stop_at + self.config.shutdown_timeout - time.monotonic()
            await asyncio.wait(jobs, timeout=max(0.0, left))
        leftover = list(self._runs)
        if leftover:
            log.warning("releasing %d unfinished task(s) back to their queues", len(leftover),
                        extra={"event": "worker.released"})
        for run in leftover:
            self._take_away(run, "shutdown")
        remaining = [r.job for r in self._runs if r.job is not None]
        if remaining:
            await asyncio.wait(remaining, timeout=5)
        for run in self._runs:  # a sync handler deaf to ctx.cancelled: the exit ends it
            run.released = True
            self._buffer.add(Outcome(run.claimed.id, run.claimed.lease_token, "released"), [])
