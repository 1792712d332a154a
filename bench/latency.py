"""Latency: one idle worker listening; another process enqueues n tasks `interval` apart.

Pickup latency of task k = when its handler started (bench_start, stamped by the handler's
first statement) minus when its enqueue transaction stamped the clock just before commit
(bench_enq). Both are clock_timestamp() of the same server, so no clocks are compared.
"""

from __future__ import annotations

import os
import subprocess
import sys

import measure
from systems import Config, ready_workers

PERCENTILES = """
select count(*),
       percentile_cont(array[0.5, 0.95, 0.99]) within group (order by ms)::float8[],
       max(ms)::float8
  from (select extract(epoch from min(s.at) - e.at)::float8 * 1000 as ms
          from bench_enq e join bench_start s using (k) group by k, e.at) x
"""


def latency_once(server: measure.Server, template: str, cfg: Config, n: int,
                 interval: float = 0.01) -> dict:
    with ready_workers(server, template, cfg, "bench_lat", latency=True) as (dsn, monitor, _):
        subprocess.run([sys.executable, "latency_producer.py", cfg.system, dsn, str(n),
                        str(interval)], cwd=measure.BENCH_DIR, check=True,
                       env={**os.environ, "PYTHONPATH": measure.BENCH_DIR})
        measure.wait_for(lambda: monitor.execute("select count(distinct k) from bench_start")
                         .fetchone()[0] >= n, 60, f"{n} latency tasks to start")
        count, (p50, p95, p99), worst = monitor.execute(PERCENTILES).fetchone()
    return {"tasks": count, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": worst}
