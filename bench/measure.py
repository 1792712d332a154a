"""Measuring tools: CPU time from /proc, the worker processes' lifecycle, fresh databases.

CPU accounting: the worker side is every process in the process group(s) the benchmark
started (a supervisor and its children included); the Postgres side is every backend
connected to the scenario's database (autovacuum workers included), sampled while the run
goes so that backends which come and go are counted too. The monitor connection that does
the sampling is left out.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

TICK = os.sysconf("SC_CLK_TCK")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


def proc_cpu(pid: int) -> float | None:
    """utime + stime of one process, in seconds (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of stat(5)


def group_pids(pgids: set[int]) -> list[int]:
    """Every live process whose process group is one of `pgids`."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) in pgids:
            out.append(int(name))
    return out


def machine_busy() -> float:
    """Seconds of CPU the whole machine has spent not idle (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    return (sum(parts[:8]) - idle) / TICK


@dataclass
class CpuMeter:
    """CPU used by worker process groups and by the database's backends between start/stop."""

    monitor: psycopg.Connection  # autocommit, connected to the scenario's database
    pgids: set[int] = field(default_factory=set)
    _base: dict[int, float] = field(default_factory=dict)
    _last: dict[int, float] = field(default_factory=dict)
    _kind: dict[int, str] = field(default_factory=dict)
    _busy0: float = 0.0
    _self0: float = 0.0

    def _backends(self) -> list[int]:
        rows = self.monitor.execute(
            "select pid from pg_stat_activity where datname = current_database()"
            " and pid <> pg_backend_pid()").fetchall()
        return [r[0] for r in rows]

    def _read(self, first: bool) -> None:
        pids = [(p, "worker") for p in group_pids(self.pgids)] if self.pgids else []
        pids += [(p, "postgres") for p in self._backends()]
        for pid, kind in pids:
            cpu = proc_cpu(pid)
            if cpu is None:
                continue
            self._kind[pid] = kind
            if first:
                self._base[pid] = cpu
            else:
                self._base.setdefault(pid, 0.0)  # born during the run: all of it counts
            self._last[pid] = cpu

    def start(self) -> None:
        for seen in (self._base, self._last, self._kind):
            seen.clear()
        self._read(first=True)
        self._busy0, self._self0 = machine_busy(), time.process_time()

    def sample(self) -> None:
        self._read(first=False)

    def stop(self) -> dict[str, float]:
        self._read(first=False)
        used = {"worker": 0.0, "postgres": 0.0}
        for pid, last in self._last.items():
            used[self._kind[pid]] += last - self._base.get(pid, 0.0)
        used["bench"] = time.process_time() - self._self0  # this process (enqueue runs here)
        used["machine"] = machine_busy() - self._busy0
        return used


class Lap:
    """Times one enqueue run: start() once connected, done() after the last commit (while
    the connection, and so its backend, still exists)."""

    def __init__(self, meter: CpuMeter | None = None) -> None:
        self.meter = meter
        self.elapsed = 0.0
        self.cpu: dict[str, float] = {}

    def start(self) -> None:
        if self.meter:
            self.meter.start()
        self._t0 = time.perf_counter()

    def done(self) -> None:
        self.elapsed = time.perf_counter() - self._t0
        if self.meter:
            self.cpu = self.meter.stop()


# -- worker processes --------------------------------------------------------------------

def start(argv: list[str], env: dict | None = None, log_name: str = "worker") -> subprocess.Popen:
    """Start a worker command in its own process group, its output to bench/results/*.log."""
    os.makedirs(os.path.join(BENCH_DIR, "results"), exist_ok=True)
    full_env = {**os.environ, "PYTHONPATH": BENCH_DIR, **(env or {})}
    # The child keeps its own copy of the descriptor: ours closes when Popen returns.
    with open(os.path.join(BENCH_DIR, "results", f"{log_name}.log"), "ab") as log:
        return subprocess.Popen(argv, cwd=BENCH_DIR, env=full_env, stdout=log, stderr=log,
                                start_new_session=True)


def stop(procs: list[subprocess.Popen], timeout: float = 15.0) -> None:
    """SIGTERM each started process group, then SIGKILL what is still there."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # stragglers of the group (e.g. children)
        except ProcessLookupError:
            pass
        p.wait()


def wait_for(check, timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def wait_backends(monitor: psycopg.Connection, at_least: int, procs: list[subprocess.Popen],
                  timeout: float = 60.0) -> None:
    """Wait until the workers hold `at_least` connections, then a little longer to settle."""
    def ready() -> bool:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"worker exited early with code {p.returncode}: "
                                   f"see bench/results/*.log ({p.args})")
        n = monitor.execute("select count(*) from pg_stat_activity where datname ="
                            " current_database() and pid <> pg_backend_pid()").fetchone()[0]
        return n >= at_least

    wait_for(ready, timeout, f"{at_least} worker connection(s)")
    time.sleep(1.0)  # listeners subscribed, first empty claims done


# -- databases ---------------------------------------------------------------------------

@dataclass
class Server:
    """The Postgres server under test; `admin_dsn` (a URL) reaches its maintenance database."""

    admin_dsn: str

    def dsn(self, dbname: str) -> str:
        """The same server URL with another database (URLs suit psycopg, asyncpg and pgtask)."""
        return urlunsplit(urlsplit(self.admin_dsn)._replace(path="/" + dbname))

    def create(self, prefix: str, template: str | None = None) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template))
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(query)
        return name

    def drop(self, name: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(
                sql.Identifier(name)))

    def settings(self) -> dict[str, str]:
        names = ["server_version", "shared_buffers", "synchronous_commit", "fsync",
                 "max_connections", "work_mem", "autovacuum"]
        with psycopg.connect(self.admin_dsn) as conn:
            return {n: conn.execute(sql.SQL("show {}").format(sql.Identifier(n))).fetchone()[0]
                    for n in names}


# -- statistics --------------------------------------------------------------------------

def summary(values: list[float]) -> dict[str, float]:
    """Median with min and max: the shape every figure of the report takes."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}
