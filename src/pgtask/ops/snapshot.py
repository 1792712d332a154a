"""What one `pgtask top` frame shows: plain data, built from the rows of Operator.top_rows.

Rates are per second, durations are seconds (floats), times are the database's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from pgtask.ops.health_mysql import MySQLHealth, mysql_health
from pgtask.ops.lag import QueueState, ReadyType, lag_hints, unregistered_types
from pgtask.ops.window import SPARK_SECONDS, WINDOWS, Window
from pgtask.redact import redact_url

# A worker whose heartbeat is older than this is not counted as serving (top's STALE).
LIVE_WORKER_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Rates:
    """Events per second averaged over the last 10 s, 1 min and 5 min."""

    s10: float = 0.0
    m1: float = 0.0
    m5: float = 0.0

    @classmethod
    def from_counts(cls, counts: tuple[int, ...]) -> Rates:
        """Counts over WINDOWS (10 s, 1 min, 5 min) -> per-second rates."""
        return cls(*(n / seconds for n, seconds in zip(counts, WINDOWS, strict=True)))


@dataclass(frozen=True, slots=True)
class QueueStats:
    name: str
    paused: bool = False
    concurrency_limit: int | None = None
    rate_limit: float | None = None
    rate_burst: int = 1
    target_url: str | None = None  # redacted (pgtask.redact): snapshots are for display
    queued: int = 0           # ready to run now
    scheduled: int = 0        # waiting for a future run_at (scheduled or retry backoff)
    running: int = 0
    dead_1h: int = 0
    completed: Rates = field(default_factory=Rates)
    failed: Rates = field(default_factory=Rates)
    lag: float | None = None  # age of the oldest ready task
    pickup: tuple[float, float, float] | None = None  # p50, p95, p99 of claim - run_at
    per_second: tuple[int, ...] = (0,) * SPARK_SECONDS  # completions, oldest second first
    hints: tuple[str, ...] = ()  # why its tasks wait (ops/lag.py), most fundamental first


@dataclass(frozen=True, slots=True)
class WorkerRow:
    id: str
    host: str
    pid: int
    queues: tuple[str, ...] | None  # None: every queue
    concurrency: int
    in_flight: int
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_age: float
    uptime: float


@dataclass(frozen=True, slots=True)
class XminHolder:
    """Something that keeps vacuum from removing dead rows: a transaction, slot or 2PC."""

    kind: str              # 'transaction', 'slot' or 'prepared'
    name: str              # backend pid, slot name or gid
    xmin_age: int          # transactions since its xmin
    seconds: float | None  # how long it has been open (unknown for slots)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Health:
    dead_tuples: int | None = None
    live_tuples: int | None = None
    last_autovacuum: datetime | None = None
    last_vacuum: datetime | None = None
    notify_trigger: bool | None = None
    notify_queue_usage: float = 0.0
    xmin_holders: tuple[XminHolder, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime
    queues: tuple[QueueStats, ...] = ()
    workers: tuple[WorkerRow, ...] = ()
    health: Health | MySQLHealth = field(default_factory=Health)  # by the database's kind
    types: tuple[ReadyType, ...] = ()  # ready tasks per queue and type (ops/lag.py)

    def unregistered(self) -> tuple[str, ...]:
        """Types with ready tasks that no worker has ever registered."""
        return unregistered_types(self.types)

    def throughput(self) -> tuple[int, ...]:
        """Completions per second over the last minute, all queues together."""
        if not self.queues:
            return (0,) * SPARK_SECONDS
        return tuple(sum(col) for col in zip(*(q.per_second for q in self.queues), strict=True))

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_json_default, indent=2)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _queue(row: dict[str, Any], window: Window) -> QueueStats:
    name = row["name"]
    return QueueStats(
        name=name, paused=row["paused"], concurrency_limit=row["concurrency_limit"],
        rate_limit=row["rate_limit"], rate_burst=row["rate_burst"],
        target_url=redact_url(row["target_url"]) if row["target_url"] is not None else None,
        queued=row["queued"], scheduled=row["scheduled"], running=row["running"],
        dead_1h=row["dead_1h"], completed=Rates.from_counts(window.completed(name)),
        # Failed attempts: of tasks finished since (in the window) and of tasks retrying.
        failed=Rates.from_counts(tuple(
            n + row[f"failed_{w}"]
            for n, w in zip(window.failed(name), ("10s", "1m", "5m"), strict=True))),
        lag=row["lag"], pickup=window.pickup(name), per_second=window.per_second(name),
    )


def _with_hints(q: QueueStats, types: tuple[ReadyType, ...],
                workers: tuple[WorkerRow, ...]) -> QueueStats:
    serving = sum(1 for w in workers if w.heartbeat_age <= LIVE_WORKER_SECONDS
                  and (w.queues is None or q.name in w.queues))
    state = QueueState(name=q.name, paused=q.paused, queued=q.queued, scheduled=q.scheduled,
                       running=q.running, concurrency_limit=q.concurrency_limit,
                       rate_limit=q.rate_limit,
                       started_per_second=q.completed.s10 + q.failed.s10)
    return replace(q, hints=lag_hints(state, types, serving))


def _ready_type(row: dict[str, Any]) -> ReadyType:
    return ReadyType(queue=row["queue"], task_type=row["task_type"], ready=int(row["ready"]),
                     registered=bool(row["registered"]), served=bool(row["served"]))


def _worker(row: dict[str, Any], at: datetime) -> WorkerRow:
    return WorkerRow(
        id=row["id"], host=row["host"], pid=row["pid"],
        queues=tuple(row["queues"]) if row["queues"] is not None else None,
        concurrency=row["concurrency"], in_flight=row["in_flight"],
        started_at=row["started_at"], heartbeat_at=row["heartbeat_at"],
        heartbeat_age=(at - row["heartbeat_at"]).total_seconds(),
        uptime=(at - row["started_at"]).total_seconds(),
    )


def _health(row: dict[str, Any] | None) -> Health:
    if row is None:
        return Health()
    holders = tuple(
        XminHolder(kind=h["kind"], name=h["name"], xmin_age=h["xmin_age"], seconds=h["seconds"],
                   detail=h["detail"] or "")
        for h in row["xmin_holders"] or ()
    )
    return Health(
        dead_tuples=row["n_dead_tup"], live_tuples=row["n_live_tup"],
        last_autovacuum=row["last_autovacuum"], last_vacuum=row["last_vacuum"],
        notify_trigger=row["notify_trigger"], notify_queue_usage=row["notify_queue_usage"] or 0.0,
        xmin_holders=holders,
    )


def from_rows(rows: dict[str, list[dict[str, Any]]], window: Window | None = None) -> Snapshot:
    """A Snapshot from the rows Operator.top_rows returns (either backend).

    `window` carries the last five minutes of finished work between refreshes (see
    window.py); without one, `rows` must hold the whole five minutes (since=None).
    """
    clock = rows["clock"][0]
    window = window if window is not None else Window()
    window.add(rows["events"], clock["until"])
    workers = tuple(_worker(r, clock["at"]) for r in rows["workers"])
    types = tuple(_ready_type(r) for r in rows.get("types", ()))
    return Snapshot(
        at=clock["at"],
        queues=tuple(_with_hints(_queue(r, window), types, workers) for r in rows["queues"]),
        workers=workers, types=types,
        health=mysql_health(rows["mysql_health"][0]) if "mysql_health" in rows else
        _health(rows["health"][0] if rows["health"] else None),
    )
