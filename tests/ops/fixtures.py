"""Fixed snapshots for the render tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from pgtask.console.render import render
from pgtask.ops.snapshot import Health, QueueStats, Rates, Snapshot, WorkerRow, XminHolder

AT = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def worker(host: str, pid: int, beat_age: float, uptime: float = 3600, queues=None,
           in_flight: int = 3) -> WorkerRow:
    return WorkerRow(id=f"{host}:{pid}", host=host, pid=pid, queues=queues, concurrency=10,
                     in_flight=in_flight, started_at=AT - timedelta(seconds=uptime),
                     heartbeat_at=AT - timedelta(seconds=beat_age), heartbeat_age=beat_age,
                     uptime=uptime)


BUSY = Snapshot(
    at=AT,
    queues=(
        QueueStats("default", queued=1200, scheduled=40, running=18, dead_1h=2,
                   completed=Rates(412.5, 380.0, 350.2), failed=Rates(1.2, 0.8, 0.5), lag=2.5,
                   pickup=(0.004, 0.120, 0.950), per_second=tuple(range(60))),
        QueueStats("emails", paused=True, queued=7, concurrency_limit=5, rate_limit=100.0,
                   rate_burst=20, lag=312.0),
        QueueStats("webhooks.out", target_url="https://example.test/hook", queued=0, running=1,
                   completed=Rates(3.0, 2.5, 2.0), pickup=(0.02, 0.03, 0.04)),
    ),
    workers=(worker("app-1", 4242, 1.5, queues=("default", "emails")),
             worker("app-2", 777, 95.0, uptime=86400 * 2)),
    health=Health(dead_tuples=1234, live_tuples=1300, last_autovacuum=AT - timedelta(minutes=3),
                  notify_trigger=True, notify_queue_usage=0.0,
                  xmin_holders=(XminHolder("transaction", "9876", 12, 0.4, "active, psql"),)),
)

EMPTY = Snapshot(at=AT)


def frame(snapshot: Snapshot, width: int = 160, **kw) -> str:
    """The frame as plain text, as a terminal `width` columns wide would show it."""
    console = Console(width=width, record=True, color_system=None, file=_Null())
    console.print(render(snapshot, width, **kw))
    return console.export_text()


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass
