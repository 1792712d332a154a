"""HTTP targets: tasks POSTed to a local no-op HTTP server, end to end through `pgtask worker`.

A queue `hooks` points at the server (uvicorn, a bare ASGI app answering 200 '{}', in its
own process); the worker runs with no --handlers, so it serves HTTP queues only, with signed
requests as in production. n tasks go in with one enqueue_tasks, and the clock runs from
that commit until all of them have succeeded. 1 and 2 worker processes (`HTTP_CONFIGS`).
`http_dispatch.py` measures the dispatcher alone, without a database, for scale.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg

import measure
from drain import clock_until_done
from http_dispatch import SERVER, free_port, wait_for_port
from systems import BIN, Config

HTTP_TASKS = 5000  # at ~500-1,000 dispatches/s, 20,000 x 3 repetitions x 2 would take long
HTTP_CONFIGS = [
    Config("pgtask", "HTTP target, -c 50", 1, ("--concurrency", "50")),
    Config("pgtask", "HTTP target, -c 50", 2, ("--concurrency", "50")),
]
SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # bench only
ENQUEUE = ("select count(*) from pgtask.enqueue_tasks(array_fill('bench.hook'::text, array[%s]),"
           " queues => array_fill('hooks'::text, array[%s]))")
UNFINISHED = "select exists (select 1 from pgtask.tasks)"
SUCCEEDED = "select count(*) from pgtask.task_history where state = 'succeeded'"


class NoopServer:
    """The no-op HTTP server, started once for all repetitions."""

    def __enter__(self) -> str:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, str(self.port)])
        wait_for_port(self.port)
        return f"http://127.0.0.1:{self.port}/task"

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def http_once(server: measure.Server, template: str, target: str, cfg: Config, n: int) -> dict:
    name = server.create("bench_http", template)
    dsn = server.dsn(name)
    procs: list = []
    try:
        with psycopg.connect(dsn, autocommit=True) as monitor:
            monitor.execute("select pgtask.configure_queue('hooks', jsonb_build_object("
                            "'target_url', %s::text, 'dispatch_deadline', '30 s'))", (target,))
            argv = [os.path.join(BIN, "pgtask"), "worker", "--dsn", dsn,
                    "--queue", "hooks", "--processes", str(cfg.processes),
                    "--log-level", "warning", *cfg.args]
            procs = [measure.start(argv, {"PGTASK_HTTP_SECRETS": SECRET,
                                    "PGTASK_HTTP_ALLOW_CIDR": "127.0.0.1/32"},
                                   f"bench_http-{cfg.processes}p")]
            measure.wait_backends(monitor, 2 * cfg.processes, procs)
            monitor.execute(ENQUEUE, (n, n))
            result = clock_until_done(monitor, procs, UNFINISHED, n,
                                      f"HTTP x{cfg.processes}", min_rate=20)
            succeeded = monitor.execute(SUCCEEDED).fetchone()[0]
        if succeeded != n:
            raise RuntimeError(f"HTTP x{cfg.processes}: {succeeded} of {n} tasks succeeded")
        return result
    finally:
        measure.stop(procs)
        server.drop(name)


def dispatcher_once(n: int) -> dict:
    """http_dispatch.py in a process of its own: the dispatcher alone, no database."""
    done = subprocess.run([sys.executable, "http_dispatch.py", "--tasks", str(n)],
                          cwd=measure.BENCH_DIR, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(f"http_dispatch.py failed:\n{done.stderr[-2000:]}")
    rate = re.search(r"([\d,.]+) dispatches/s", done.stdout)
    cpu = re.search(r"([\d,.]+) us of dispatcher CPU", done.stdout)
    return {"tasks_per_s": float(rate.group(1).replace(",", "")),
            "worker_us_per_task": float(cpu.group(1).replace(",", ""))}
