"""Sustained: pgtask alone, n tasks enqueued and drained continuously, retention on.

A producer thread keeps the backlog between 0 and BACKLOG tasks (enqueue_many, BATCH per
transaction) while the workers drain it; the worker prunes history older than RETENTION,
so pruning runs during the test too. Throughput is compared between the first and the
last 10% of the tasks; at the end the hot table's size and dead tuples are read.
"""

from __future__ import annotations

import threading
import time

import psycopg

import measure
from systems import Config, ready_workers

BATCH = 2000
BACKLOG = 10000
RETENTION = "1m"
CONFIG = Config("pgtask", "-c 200, retention 1m", 2,
                ("--concurrency", "200", "--retention", RETENTION))
REMAINING = "select count(*) from pgtask.tasks"
SIZES = "select pg_relation_size('pgtask.tasks'), pg_total_relation_size('pgtask.tasks')"
TABLES = """
select c.relname, pg_total_relation_size(c.oid), s.n_live_tup, s.n_dead_tup,
       s.autovacuum_count, s.vacuum_count, pg_relation_size(c.oid)
  from pg_class c join pg_stat_user_tables s on s.relid = c.oid
 where s.schemaname = 'pgtask' and c.relname in ('tasks', 'task_history')
"""


class Producer(threading.Thread):
    def __init__(self, dsn: str, n: int) -> None:
        super().__init__(daemon=True)
        self.dsn, self.n = dsn, n
        self.enqueued = 0
        self.lock = threading.Lock()  # held while a batch commits and is counted
        self.error: BaseException | None = None

    def run(self) -> None:
        import pgtask

        try:
            with psycopg.connect(self.dsn) as conn:
                while self.enqueued < self.n:
                    if conn.execute(REMAINING).fetchone()[0] >= BACKLOG:
                        conn.commit()
                        time.sleep(0.005)
                        continue
                    size = min(BATCH, self.n - self.enqueued)
                    with self.lock:
                        pgtask.enqueue_many(conn, [("bench.noop", {"i": self.enqueued + i})
                                                   for i in range(size)])
                        conn.commit()
                        self.enqueued += size
        except BaseException as exc:  # reported by the main thread
            self.error = exc


def _crossing(series: list[tuple[float, int]], target: float) -> float:
    """The time at which the finished count reached `target` (linear between samples)."""
    prev_t, prev_n = series[0]
    for t, n in series:
        if n >= target:
            if n == prev_n:
                return t
            return prev_t + (t - prev_t) * (target - prev_n) / (n - prev_n)
        prev_t, prev_n = t, n
    return series[-1][0]


def sustained_once(server: measure.Server, template: str, n: int) -> dict:
    with ready_workers(server, template, CONFIG, "bench_sus") as (dsn, monitor, procs):
        meter = measure.CpuMeter(monitor, {p.pid for p in procs})
        producer = Producer(dsn, n)
        meter.start()
        t0 = time.perf_counter()
        producer.start()
        series = [(0.0, 0)]
        peak = (0, 0)  # the hot table's largest size seen: (heap, with indexes)
        while series[-1][1] < n:
            time.sleep(0.25)
            if producer.error:
                raise producer.error
            with producer.lock:
                finished = producer.enqueued - monitor.execute(REMAINING).fetchone()[0]
            series.append((time.perf_counter() - t0, finished))
            peak = tuple(map(max, peak, monitor.execute(SIZES).fetchone()))
            meter.sample()
            if series[-1][0] > max(600.0, n / 100):
                raise TimeoutError("sustained run did not finish in time")
        cpu = meter.stop()
        time.sleep(1.0)  # let the statistics collector catch up
        monitor.execute("select pg_stat_clear_snapshot()")
        tables = {r[0]: r[1:] for r in monitor.execute(TABLES).fetchall()}
    tenth = n / 10
    first = tenth / _crossing(series, tenth)
    last = tenth / (series[-1][0] - _crossing(series, n - tenth))
    hot, history = tables["tasks"], tables["task_history"]
    return {"tasks": n, "seconds": series[-1][0], "tasks_per_s": n / series[-1][0],
            "first_10pct_per_s": first, "last_10pct_per_s": last, "last_vs_first": last / first,
            "hot_table_bytes": hot[0], "hot_live_tup": hot[1], "hot_dead_tup": hot[2],
            "hot_autovacuums": hot[3], "hot_vacuums": hot[4], "hot_heap_bytes": hot[5],
            "hot_peak_heap_bytes": peak[0], "hot_peak_bytes": peak[1],
            "history_bytes": history[0],
            "history_live_tup": history[1],
            "worker_us_per_task": cpu["worker"] / n * 1e6,
            "postgres_us_per_task": cpu["postgres"] / n * 1e6}
