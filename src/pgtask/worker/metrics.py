"""`pgtask worker --metrics-port`: the worker's own counters, for Prometheus.

The database-derived metrics of `pgtask serve` (/metrics) describe the queues; these
describe one worker process: what it claimed and finished, how long handlers ran, what it
holds now. The runner reports through three hooks, each a few dict lookups:

    metrics = start_worker_metrics(9108)              # serves http://127.0.0.1:9108/metrics
    worker = Worker(dsn, registry, config, metrics=metrics)   # it tracks worker.in_flight
    metrics.observe_claim(queue, pickup_seconds)      # per claimed task (claim - run_at)
    metrics.observe_outcome(queue, task_type, kind, seconds)
        # kind: an Outcome kind (succeeded, failed, dead, snoozed, released) or "lost"

The first scrape already shows every series at 0 for the task types of the worker's
registry (on their default queue) and its --queue list, so rate() counts their first event;
`track(worker)` does it, or `prime(pairs, queues)` by hand.

Only prometheus_client is needed (no starlette). With --processes N every child needs its
own port (e.g. port + child index): prometheus_client's default registry is per process.

The same rule as `pgtask serve`: on a loopback address anyone on the host may read; on any
other address a bearer token is required (PGTASK_METRICS_TOKEN, at least 16 characters;
Prometheus: `authorization: {credentials: ...}`) and the worker refuses to start without
one. With a token set, it is required on loopback too.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app

from pgtask.endpoints import MAKE_ONE, MIN_TOKEN_CHARS, is_loopback
from pgtask.errors import ConfigError

if TYPE_CHECKING:  # annotations only: isinstance on HasTasks checks attribute names
    from pgtask.registry import Registry
    from pgtask.worker.settings import WorkerConfig

TOKEN_ENV = "PGTASK_METRICS_TOKEN"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# What observe_outcome may be told (Outcome kinds a worker reports, and "lost").
OUTCOMES = ("succeeded", "failed", "dead", "snoozed", "released", "lost")
BOUNDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
          300.0, 1800.0)


class HasInFlight(Protocol):
    @property
    def in_flight(self) -> int: ...


@runtime_checkable
class HasTasks(Protocol):
    """A Worker: what it can run (priming the series at 0 needs nothing else)."""

    registry: Registry
    config: WorkerConfig


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
        """Report `worker.in_flight` as the in-flight gauge; a Worker's task types and
        queues get their series at 0 (see prime)."""
        self.in_flight.set_function(lambda: float(worker.in_flight))
        if isinstance(worker, HasTasks):
            served = worker.config.queues
            pairs = [(d.queue, d.name) for d in worker.registry.tasks.values()
                     if served is None or d.queue in served]
            self.prime(pairs, served or ())

    def prime(self, pairs: Iterable[tuple[str, str]], queues: Iterable[str] = ()) -> None:
        """Create the series of these (queue, type) pairs and queues at 0."""
        for queue, task_type in pairs:
            self.claimed.labels(queue)
            self.pickup.labels(queue)
            self.run_time.labels(queue, task_type)
            for outcome in OUTCOMES:
                self.outcomes.labels(queue, task_type, outcome)
        for queue in queues:
            self.claimed.labels(queue)
            self.pickup.labels(queue)

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


def metrics_token(addr: str, token: str | None) -> str | None:
    """The token the endpoint on `addr` requires (None: none); ConfigError when `addr` is
    not loopback and there is no token, or the token is too short."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"{TOKEN_ENV} is shorter than {MIN_TOKEN_CHARS} characters ({MAKE_ONE})")
    if not token and not is_loopback(addr):
        raise ConfigError(f"refusing to serve worker metrics on {addr} without authentication: "
                          f"set {TOKEN_ENV} (scrape with Authorization: Bearer <token>; "
                          f"{MAKE_ONE}), or use --metrics-addr 127.0.0.1")
    return token or None


def bearer_only(app: WsgiApp, token: str) -> WsgiApp:
    """`app` behind `Authorization: Bearer <token>` (compared in constant time)."""
    expected = hashlib.sha256(token.encode()).digest()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        sent = hashlib.sha256(value.strip().encode("utf-8", "surrogateescape")).digest()
        if scheme.lower() == "bearer" and hmac.compare_digest(sent, expected):
            return app(environ, start_response)
        start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                            ("WWW-Authenticate", 'Bearer realm="pgtask"')])
        return [b"authentication required: Authorization: Bearer <PGTASK_METRICS_TOKEN>\n"]

    return guarded


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        """Scrapes are not worth a log line each."""


def _serve(app: WsgiApp, addr: str, port: int) -> Any:
    """prometheus_client's start_wsgi_server with our own app: a daemon-threaded server."""
    family, _, _, _, sockaddr = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM,
                                                   flags=socket.AI_PASSIVE)[0]

    class Server(ThreadingWSGIServer):
        address_family = family

    server = make_server(str(sockaddr[0]), port, app, Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True,
                     name="pgtask-worker-metrics").start()
    return server


def start_worker_metrics(port: int, worker: HasInFlight | None = None, *,
                         addr: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY,
                         token: str | None = None) -> WorkerMetrics:
    """Serve `registry` (with the worker metrics added) on http://addr:port/metrics from a
    daemon thread, and return the hooks. Port 0 picks a free port (metrics.port).

    `token` (default: $PGTASK_METRICS_TOKEN): required as a bearer token; without one a
    non-loopback `addr` is refused (ConfigError) before anything is bound."""
    token = metrics_token(addr, (os.environ.get(TOKEN_ENV) or None) if token is None else token)
    metrics = WorkerMetrics(registry, worker)
    app: WsgiApp = make_wsgi_app(registry)
    server = _serve(bearer_only(app, token) if token else app, addr, port)
    metrics.server = server
    metrics.port = server.server_address[1]
    return metrics
