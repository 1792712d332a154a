"""/metrics: Prometheus metrics derived from the database at scrape time.

Semantics (a scrape costs a few small queries whatever the history size; see
store/postgres/metrics.py for how each is read):

- Counters count since this server's first scrape (Prometheus treats a restart as a counter
  reset, as for any exporter): pgtask_tasks_enqueued_total, _succeeded_total, _dead_total,
  _cancelled_total and _failed_total (failed attempts, including those that will retry),
  by queue and type; pgtask_http_attempts_total by queue and status ("none": no answer),
  counted when their task finishes. They describe the whole database, so scrape one
  `pgtask serve` per database (or aggregate with max, not sum).
- Histograms, by queue, over the tasks that finished since the first scrape:
  pgtask_pickup_latency_seconds (claim - run_at of the last attempt) and pgtask_run_seconds
  (finish - claim). A value exactly on a bucket bound lands in the next bucket.
- Gauges, from the `pgtask top` snapshot: pgtask_queue_tasks{state=queued|scheduled|running},
  pgtask_queue_lag_seconds (age of the oldest ready task), pgtask_queue_paused,
  pgtask_workers{status=alive|stale}, pgtask_tasks_in_flight.
- Gauges of the xmin horizon (store/postgres/metrics.py XMIN), read at every scrape:
  pgtask_xmin_horizon_age_seconds (how long the oldest transaction holding it has been open)
  and pgtask_xmin_horizon_age_xids (how many transactions back it is, slots included).

The first scrape carries every series at 0 that later ones may move: the task counters for
each (queue, type) with unfinished tasks, the histograms for each queue of the snapshot, and
from then on the counters of every pair any counter has seen; so rate() and increase() count
the first event of a series instead of taking it as the series' start. (HTTP statuses and
pairs first seen enqueued cannot be known beforehand; past KNOWN's 2000 pairs, a pair's
series starts at its first event.)
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from pgtask.ops.snapshot import Snapshot
from pgtask.ops.snapshots import Snapshots
from pgtask.store.base import Row
from pgtask.web.api_queues import STALE_WORKER_SECONDS
from pgtask.web.db import Database

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
          1800.0, 3600.0)
TASK_COUNTERS = {
    "enqueued": "Tasks enqueued",
    "succeeded": "Tasks that succeeded",
    "failed": "Failed attempts (the task may retry)",
    "dead": "Tasks that ended dead (attempts exhausted or a permanent failure)",
    "cancelled": "Tasks cancelled",
}
HISTOGRAMS = {
    "pickup": ("pgtask_pickup_latency_seconds",
               "Time from run_at to the claim of a finished task's last attempt"),
    "run": ("pgtask_run_seconds", "Time from the last claim to the finish of a task"),
}


class Totals:
    """Counts and histogram buckets accumulated over scrape windows (pure)."""

    def __init__(self, bounds: Sequence[float] = BOUNDS) -> None:
        self.bounds = tuple(bounds)
        self.counts: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        self.buckets: dict[tuple[str, str], list[float]] = {}  # per-bucket counts, then sum
        self.pairs: set[tuple[str, str]] = set()  # (queue, type): every task counter shows
        self.queues: set[str] = set()  # every histogram shows these

    def know(self, queues: Iterable[str] = (), pairs: Iterable[tuple[str, str]] = ()) -> None:
        """Show these queues and (queue, type) pairs from now on, at 0 until they move."""
        self.queues.update(queues)
        self.pairs.update(pairs)
        self.queues.update(queue for queue, _ in self.pairs)

    def add(self, rows: dict[str, list[Row]]) -> None:
        for r in rows["enqueued"]:
            self.counts["enqueued"][r["queue"], r["task_type"]] += r["n"]
        for r in rows["finished"]:
            self.counts[r["state"]][r["queue"], r["task_type"]] += r["n"]
        for r in rows["failed"]:
            self.counts["failed"][r["queue"], r["task_type"]] += r["n"]
        for r in rows["http"]:
            self.counts["http"][r["queue"], r["status"]] += r["n"]
        for r in rows["durations"]:
            hist = self.buckets.setdefault((r["kind"], r["queue"]),
                                           [0] * (len(self.bounds) + 1) + [0.0])
            hist[r["bucket"]] += r["n"]
            hist[-1] += r["total"] or 0.0
        self.know(pairs=((r["queue"], r["task_type"])
                         for key in ("enqueued", "finished", "failed") for r in rows[key]))

    def families(self) -> Iterator[Metric]:
        for key, doc in TASK_COUNTERS.items():
            family = CounterMetricFamily(f"pgtask_tasks_{key}", doc, labels=["queue", "type"])
            counts = self.counts[key]
            for labels in sorted(self.pairs | counts.keys()):
                family.add_metric(list(labels), counts[labels])
            yield family
        http = CounterMetricFamily("pgtask_http_attempts", "HTTP target attempts by status "
                                   "('none': no answer), counted when the task finishes",
                                   labels=["queue", "status"])
        for labels, n in sorted(self.counts["http"].items()):
            http.add_metric(list(labels), n)
        yield http
        for kind, (name, doc) in HISTOGRAMS.items():
            histogram = HistogramMetricFamily(name, doc, labels=["queue"])
            empty = [0.0] * (len(self.bounds) + 2)
            for queue in sorted(self.queues | {q for k, q in self.buckets if k == kind}):
                hist = self.buckets.get((kind, queue), empty)
                histogram.add_metric([queue], self._cumulative(hist), sum_value=hist[-1])
            yield histogram

    def _cumulative(self, hist: list[float]) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running: float = 0
        for bound, n in zip((*map(str, self.bounds), "+Inf"), hist[:-1], strict=True):
            running += n
            out.append((bound, running))
        return out


def gauges(snapshot: Snapshot) -> Iterator[Metric]:
    tasks = GaugeMetricFamily("pgtask_queue_tasks", "Unfinished tasks by queue and state",
                              labels=["queue", "state"])
    lag = GaugeMetricFamily("pgtask_queue_lag_seconds", "Age of the oldest ready task",
                            labels=["queue"])
    paused = GaugeMetricFamily("pgtask_queue_paused", "1 if the queue is paused",
                               labels=["queue"])
    for q in snapshot.queues:
        for state in ("queued", "scheduled", "running"):
            tasks.add_metric([q.name, state], getattr(q, state))
        lag.add_metric([q.name], q.lag or 0.0)
        paused.add_metric([q.name], 1.0 if q.paused else 0.0)
    workers = GaugeMetricFamily("pgtask_workers", "Registered worker processes by heartbeat "
                                f"(stale: none for {STALE_WORKER_SECONDS:g}s)", labels=["status"])
    alive = sum(w.heartbeat_age < STALE_WORKER_SECONDS for w in snapshot.workers)
    workers.add_metric(["alive"], alive)
    workers.add_metric(["stale"], len(snapshot.workers) - alive)
    in_flight = GaugeMetricFamily("pgtask_tasks_in_flight", "Tasks the workers hold now",
                                  value=sum(w.in_flight for w in snapshot.workers))
    yield from (tasks, lag, paused, workers, in_flight)


def xmin_gauges(row: Row) -> Iterator[Metric]:
    """The xmin horizon's age from a row of store/postgres/metrics.py's XMIN."""
    yield GaugeMetricFamily("pgtask_xmin_horizon_age_seconds", "How long the oldest "
                            "transaction holding back vacuum's xmin horizon has been open "
                            "(0: none)", value=row["seconds"])
    yield GaugeMetricFamily("pgtask_xmin_horizon_age_xids", "How many transactions back the "
                            "xmin horizon is held (by a transaction or replication slot)",
                            value=row["xids"])


class DatabaseCollector:
    """A prometheus_client collector: each collect() reads the window since the last one."""

    def __init__(self, db: Database, snapshots: Snapshots) -> None:
        self._db = db
        self._snapshots = snapshots
        self._lock = threading.Lock()
        self._marks: Row | None = None
        self.totals = Totals()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._marks is None:
                marks = self._db.call(lambda b: b.start_marks())
                self.totals.know(pairs=((r["queue"], r["task_type"]) for r in marks["known"]))
                xmin = marks["xmin"]
                self._marks = {"until": marks["until"], "last_id": marks["last_id"]}
            else:
                since, last_id = self._marks["until"], self._marks["last_id"]
                rows = self._db.call(lambda b: b.metrics_rows(since, last_id, self.totals.bounds))
                self.totals.add(rows)
                self._marks = {"until": rows["clock"][0]["until"], "last_id": max(
                    [self._marks["last_id"], *(r["max_id"] for r in rows["enqueued"])])}
                xmin = rows["xmin"][0]
            snapshot = self._snapshots.take()
            self.totals.know(queues=(q.name for q in snapshot.queues))
            families = list(self.totals.families())
        yield from families
        yield from gauges(snapshot)
        yield from xmin_gauges(xmin)


def registry_for(db: Database, snapshots: Snapshots) -> CollectorRegistry:
    """A registry of its own per app (several apps may live in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db, snapshots))
    return registry
