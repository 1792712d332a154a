"""Drain: n no-op tasks queued at once in front of idle workers; time until all are finished.

The workers start first and settle (connected, listening, first empty claim done), so
process start-up is not timed. Then n tasks go in through the system's own bulk API in one
transaction, and the clock runs from that commit until the database holds no unfinished
task (checked every 20 ms on a monitor connection).
"""

from __future__ import annotations

import time

import measure
from systems import SYSTEMS, Config, ready_workers

POLL = 0.02
SAMPLE_EVERY = 10  # polls between CPU samples


def clock_until_done(monitor, procs, unfinished: str, n: int, what: str,
                     min_rate: float = 50) -> dict:
    """From now until `unfinished` (SQL) says nothing is left: n tasks' rate and CPU.

    Call it right after the enqueue commits; the workers in `procs` are already settled.
    """
    meter = measure.CpuMeter(monitor, {p.pid for p in procs})
    t0 = time.perf_counter()
    meter.start()
    polls, deadline = 0, t0 + max(120.0, n / min_rate)
    while monitor.execute(unfinished).fetchone()[0]:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what}: not drained in time")
        polls += 1
        if polls % SAMPLE_EVERY == 0:
            meter.sample()
        time.sleep(POLL)
    elapsed = time.perf_counter() - t0
    cpu = meter.stop()
    return {"seconds": elapsed, "tasks_per_s": n / elapsed,
            "worker_us_per_task": cpu["worker"] / n * 1e6,
            "postgres_us_per_task": cpu["postgres"] / n * 1e6,
            # CPU the rest of the machine took meanwhile (other users, Postgres's own
            # background processes), as a share of both cores: the noise of this run.
            "other_load_pct": 100 * (cpu["machine"] - cpu["worker"] - cpu["postgres"]
                                     - cpu["bench"]) / (2 * elapsed)}


def drain_once(server: measure.Server, template: str, cfg: Config, n: int) -> dict:
    system = SYSTEMS[cfg.system]
    with ready_workers(server, template, cfg, "bench_drain") as (dsn, monitor, procs):
        system.enqueue(dsn, n)
        result = clock_until_done(monitor, procs, system.unfinished, n,
                                  f"{cfg.system} {cfg.label}")
        result["finished"] = monitor.execute(system.finished).fetchone()[0]
    return result
