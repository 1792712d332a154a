"""`pgtask worker --metrics-port`: the worker's own counters, for Prometheus.

The database-derived metrics of `pgtask serve` (/metrics) describe the queues; these
describe one worker process: what it claimed and finished, how long handlers ran, what it
holds now. The runner reports through three hooks, each a few dict lookups:

    metrics = start_worker_metrics(9108)              # serves http://0.0.0.0:9108/metrics
    worker = Worker(dsn, registry, config, metrics=metrics)   # it tracks worker.in_flight
    metrics.observe_claim(queue, pickup_seconds)      # per claimed task (claim - run_at)
    metrics.observe_outcome(queue, task_type, kind, seconds)
        # kind: an Outcome kind (succeeded, failed, dead, snoozed, released) or "lost"

Only prometheus_client is needed (no starlette). With --processes N every child needs its
own port (e.g. port + child index): prometheus_client's default registry is per process.
"""

from __future__ import annotations

from typing import Any, Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

BOUNDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
          300.0, 1800.0)


class HasInFlight(Protocol):
    @property
    def in_flight(self) -> int: ...


class WorkerMetrics:
    """The worker-side metrics and the hooks that move them."""

    def __init__(self, registry: CollectorRegistry = REGISTRY,
                 worker: HasInFlight | None = None) -> None:
        self.claimed = Counter("pgtask_worker_claimed_tasks", "Tasks this process claimed",
                               ["queue"], registry=registry)
        self.outcomes = Counter("pgtask_worker_outcomes", "Attempts this process finished, "
                                "by outcome", ["queue", "type", "outcome"], registry=registry)
        self.pickup = Histogram("pgtask_worker_pickup_latency_seconds",
                                "Time from run_at to this process's claim", ["queue"],
                                buckets=BOUNDS, registry=registry)
        self.run_time = Histogram("pgtask_worker_run_seconds", "Handler (or HTTP dispatch) "
                                  "time per attempt", ["queue", "type"], buckets=BOUNDS,
                                  registry=registry)
        self.in_flight = Gauge("pgtask_worker_in_flight", "Tasks this process is running now",
                               registry=registry)
        self.server: Any = None  # prometheus_client's WSGI server (untyped)
        self.port: int | None = None
        if worker is not None:
            self.track(worker)

    def track(self, worker: HasInFlight) -> None:
        """Report `worker.in_flight` as the in-flight gauge."""
        self.in_flight.set_function(lambda: float(worker.in_flight))

    def observe_claim(self, queue: str, pickup_seconds: float) -> None:
        self.claimed.labels(queue).inc()
        self.pickup.labels(queue).observe(max(0.0, pickup_seconds))

    def observe_outcome(self, queue: str, task_type: str, kind: str, seconds: float) -> None:
        self.outcomes.labels(queue, task_type, kind).inc()
        self.run_time.labels(queue, task_type).observe(max(0.0, seconds))

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def start_worker_metrics(port: int, worker: HasInFlight | None = None, *, addr: str = "0.0.0.0",
                         registry: CollectorRegistry = REGISTRY) -> WorkerMetrics:
    """Serve `registry` (with the worker metrics added) on http://addr:port/metrics from a
    daemon thread, and return the hooks. Port 0 picks a free port (metrics.port)."""
    metrics = WorkerMetrics(registry, worker)
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    metrics.server = server
    metrics.port = server.server_address[1]
    return metrics
