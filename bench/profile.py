"""Where a pgtask worker spends its time while draining: py-spy on the worker process,
pg_stat_user_functions (track_functions = all) on the database side.

    bench/.venv/bin/python bench/profile.py [--concurrency 10] [--tasks 20000] [--sql-patch F]

Prints the top functions by own time and by inclusive time (from py-spy's raw collapsed
stacks, saved under bench/results/), and per-call / per-task time of the SQL functions.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import subprocess
import time

import psycopg
from psycopg import sql

import measure
from run import find_server
from systems import BIN, SYSTEMS, Config
from template import build_template

FRAME = re.compile(r"^(.*) \((.*?)(?::\d+)?\)$")
FUNCTIONS = """
select funcname, calls, total_time, self_time from pg_stat_user_functions
 where schemaname = 'pgtask' and calls > 0 order by total_time desc
"""


def _name(frame: str) -> str:
    """'run (pgtask/runner.py:123)' -> 'run (pgtask/runner.py)': lines merged per function."""
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group(2)
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group(1)} ({path})"


def summarise_stacks(path: str, top: int = 25) -> str:
    own, incl, total = collections.Counter(), collections.Counter(), 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = [_name(x) for x in stack.split(";")]
            total += n
            own[frames[-1]] += n
            for name in set(frames):
                incl[name] += n
    out = [f"{total} samples", "", f"top {top} by own time:"]
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in own.most_common(top)]
    out += ["", f"top {top} by inclusive time:"]
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in incl.most_common(top)]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--sql-patch")
    p.add_argument("--dsn")
    args = p.parse_args()
    server = find_server(args.dsn)
    template = build_template(server)
    if args.sql_patch:
        with open(args.sql_patch) as f, psycopg.connect(server.dsn(template)) as conn:
            conn.execute(f.read())
    name = server.create("bench_prof", template)
    dsn = server.dsn(name)
    cfg = Config("pgtask", f"-c {args.concurrency}", 1, ("--concurrency", str(args.concurrency)))
    out = os.path.join(measure.BENCH_DIR, "results", f"profile-c{args.concurrency}.txt")
    procs = []
    try:
        with psycopg.connect(server.admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("alter database {} set track_functions = 'all'").format(
                sql.Identifier(name)))
        with psycopg.connect(dsn, autocommit=True) as monitor:
            procs = [measure.start(SYSTEMS["pgtask"].command(cfg, dsn)[0], {}, "profile")]
            measure.wait_backends(monitor, 2, procs)
            spy = subprocess.Popen([os.path.join(BIN, "py-spy"), "record", "--format", "raw",
                                    "--rate", str(args.rate), "-o", out, "--pid",
                                    str(procs[0].pid)], stdout=subprocess.DEVNULL)
            time.sleep(1.0)  # py-spy attached
            monitor.execute("select pg_stat_reset()")
            SYSTEMS["pgtask"].enqueue(dsn, args.tasks)
            t0 = time.perf_counter()
            measure.wait_for(lambda: not monitor.execute(SYSTEMS["pgtask"].unfinished)
                             .fetchone()[0], 600, "the drain", every=0.02)
            elapsed = time.perf_counter() - t0
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
            time.sleep(0.7)  # backends report their function statistics when idle
            monitor.execute("select pg_stat_clear_snapshot()")
            funcs = monitor.execute(FUNCTIONS).fetchall()
    finally:
        measure.stop(procs)
        server.drop(name)
        server.drop(template)
    print(f"pgtask worker -c {args.concurrency}: {args.tasks:,} tasks in {elapsed:.2f}s "
          f"= {args.tasks / elapsed:,.0f} tasks/s\n")
    print(summarise_stacks(out))
    print("\nSQL functions (pg_stat_user_functions, ms):")
    print(f"  {'function':<16}{'calls':>8}{'total':>10}{'self':>10}{'ms/call':>9}"
          f"{'tasks/call':>11}{'µs/task':>9}")
    for fn, calls, total, self_ in funcs:
        print(f"  {fn:<16}{calls:>8}{total:>10.0f}{self_:>10.0f}{total / calls:>9.2f}"
              f"{args.tasks / calls:>11.1f}{1000 * total / args.tasks:>9.1f}")
    print(f"\nraw stacks: {out}")


if __name__ == "__main__":
    main()
