"""How a worker runs: WorkerConfig (pgtask.WorkerConfig), checked when it is made."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from pgtask.worker.service import Service

# pgtask.rescue_tasks prunes a worker row after a minute without a heartbeat (at least).
MAX_HEARTBEAT_INTERVAL = 20.0


@dataclass
class WorkerConfig:
    queues: list[str] | None = None  # None: every queue
    # 100: a claim-and-finish round costs ~1.4 ms of fixed Postgres CPU, ~155 us a task in
    # batches of 10 against ~70 us in batches of 100 (bench/README.md, Findings).
    concurrency: int = 100
    poll_interval: float = 1.0  # seconds between claims when idle (the safety net)
    # At most this long between lease renewals; shorter when a task's lease needs it (a
    # third of the shortest lease held). Capped so a live worker's row never looks stale.
    heartbeat_interval: float = 5.0
    shutdown_timeout: float = 30.0
    flush_delay: float = 0.0  # seconds to gather outcomes before a flush
    retention: timedelta | None = timedelta(days=7)
    maintenance_interval: float = 10.0  # seconds between rescues of expired leases (+ prune)
    db_timeout: float = 3.0  # a claim, heartbeat or finish that does not answer is abandoned
    listen: bool = True
    scheduler: bool = True  # take turns leading the cron/interval schedules (Postgres)
    services: list[Service] = field(default_factory=list)  # extra background services

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.poll_interval <= 0 or self.heartbeat_interval <= 0:
            raise ValueError("poll and heartbeat intervals must be positive")
        if self.shutdown_timeout < 0:
            raise ValueError("shutdown timeout must not be negative")
        if self.heartbeat_interval > MAX_HEARTBEAT_INTERVAL:
            raise ValueError(f"heartbeat interval must be at most {MAX_HEARTBEAT_INTERVAL:g}s "
                             f"(got {self.heartbeat_interval:g}s): a worker silent for a "
                             "minute is presumed dead and its row pruned")
        if self.db_timeout <= 0 or self.maintenance_interval <= 0:
            raise ValueError("the database timeout and rescue interval must be positive")
