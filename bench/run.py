"""pgtask against pgqueuer, procrastinate and plain SQL, in one run on one Postgres.

    make bench                              # drain, enqueue, latency, HTTP, sustained
    make bench BENCH_ARGS=--quick           # smoke run: 1 repetition, small counts
    make bench BENCH_ARGS=--no-sustained    # all but the 1,000,000-task sustained run
    bench/.venv/bin/python bench/run.py --only drain --reps 1 --sql-patch my.sql

Prints markdown tables, saves everything as JSON under bench/results/, and (on a full run)
refreshes the results block of bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version

import psycopg

import measure
import report
from drain import drain_once
from enqueue import METHODS, enqueue_once
from http_scenario import HTTP_CONFIGS, HTTP_TASKS, NoopServer, dispatcher_once, http_once
from latency import latency_once
from sustained import CONFIG as SUSTAINED_CONFIG
from sustained import sustained_once
from systems import DRAIN_CONFIGS, LATENCY_CONFIGS
from template import build_template

SCENARIOS = ["drain", "enqueue", "latency", "http", "sustained"]
DRAIN_KEYS = ["tasks_per_s", "worker_us_per_task", "postgres_us_per_task"]
ENQUEUE_KEYS = ["tasks_per_s", "client_us_per_task", "postgres_us_per_task"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dsn", help="server URL (default: 127.0.0.1:5432, else `pgtask dsn`)")
    p.add_argument("--quick", action="store_true", help="1 repetition, small counts")
    p.add_argument("--no-sustained", action="store_true",
                   help="skip the sustained run (1,000,000 tasks, about a minute here)")
    p.add_argument("--only", action="append", choices=SCENARIOS, help="run only these")
    p.add_argument("--systems", help="comma-separated subset, e.g. pgtask,pgqueuer")
    p.add_argument("--reps", type=int, help="repetitions per figure (default 3)")
    p.add_argument("--tasks", type=int, help="tasks per drain and bulk-enqueue run "
                                             "(default 20,000)")
    p.add_argument("--one-by-one-tasks", type=int,
                   help="tasks per one-by-one enqueue run (default 5,000: each is a "
                        "committed transaction, bound by the disk's fsync)")
    p.add_argument("--sustained-tasks", type=int, help="default 1,000,000")
    p.add_argument("--sql-patch", help="SQL file applied to the template after migrating "
                                       "(to measure a proposed change; never on a README run)")
    p.add_argument("--render", metavar="JSON", help="print the tables of a saved run (and "
                                                     "refresh README.md if it was a full run)")
    args = p.parse_args()
    args.reps = args.reps or (1 if args.quick else 3)
    args.tasks = args.tasks or (5000 if args.quick else 20000)
    args.one_by_one_tasks = args.one_by_one_tasks or (1000 if args.quick else 5000)
    args.sustained_tasks = args.sustained_tasks or (100_000 if args.quick else 1_000_000)
    args.latency_tasks = 100 if args.quick else 500
    return args


def find_server(dsn: str | None) -> measure.Server:
    if dsn:
        return measure.Server(dsn)
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        psycopg.connect(local, connect_timeout=3).close()
        return measure.Server(local)
    except psycopg.OperationalError:
        from pgtask.embedded import embedded_dsn

        print("no Postgres at 127.0.0.1:5432: using the embedded one", file=sys.stderr)
        return measure.Server(embedded_dsn())


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB, {platform.platform()}"


def versions() -> dict:
    rev = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                         text=True, cwd=measure.BENCH_DIR).stdout.strip()
    out = {n: version(n) for n in ["pgqueuer", "procrastinate", "psycopg", "asyncpg", "uvloop"]}
    return {**out, "pgtask": f"{version('pgtask')} ({rev or 'no git'})",
            "python": platform.python_version()}


def chosen(wanted: set[str] | None, name: str) -> bool:
    """--systems pgtask,bare keeps 'pgtask ...' and 'bare SQL' / 'bare INSERT ...' rows."""
    return wanted is None or any(name.startswith(w) for w in wanted)


def row(fields: dict, what: str, reps: int, once, keys: list[str]) -> dict:
    """`reps` repetitions of once(): a table row with its runs and their summary."""
    runs = []
    for i in range(reps):
        t = time.perf_counter()
        runs.append(once())
        shown = {k: round(v, 1) for k, v in runs[-1].items() if isinstance(v, float)}
        print(f"  {what} [{i + 1}/{reps}] {time.perf_counter() - t:.1f}s {shown}", flush=True)
    return {**fields, "runs": runs, "summary": report.summarise(runs, keys)}


def publish(res: dict, full: bool) -> None:
    text = report.header(res["meta"]) + "\n" + report.tables(res)
    print("\n" + text)
    if full:
        report.update_readme(os.path.join(measure.BENCH_DIR, "README.md"), text)
        print("bench/README.md updated")


def is_full(args) -> bool:
    """A default run: the only kind whose figures go into README.md."""
    return not (args.get("quick") or args.get("only") or args.get("systems")
                or args.get("no_sustained") or args.get("sql_patch"))


def main() -> None:
    args = parse_args()
    if args.render:
        with open(args.render) as f:
            res = json.load(f)
        publish(res, is_full(res["meta"]["args"]))
        return
    only = set(args.only or [s for s in SCENARIOS if s != "sustained" or not args.no_sustained])
    wanted = set(args.systems.split(",")) if args.systems else None
    server = find_server(args.dsn)
    t0 = time.perf_counter()
    template = build_template(server)
    if args.sql_patch:
        with open(args.sql_patch) as f, psycopg.connect(server.dsn(template)) as conn:
            conn.execute(f.read())
    res: dict = {"meta": {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "versions": versions(), "postgres": server.settings(),
        "reps": args.reps, "args": vars(args),
        "settings": f"{args.tasks:,} no-op tasks per drain and bulk-enqueue run, "
                    f"{args.one_by_one_tasks:,} per one-by-one enqueue run, "
                    f"{args.latency_tasks} latency tasks 10 ms apart"
                    + (f", sql patch {args.sql_patch}" if args.sql_patch else "")}}
    try:
        if "drain" in only:
            res["drain"] = [
                row({"system": c.system, "label": c.label, "processes": c.processes,
                     "tasks": n}, f"drain {c.system} {c.label} x{c.processes}", args.reps,
                    partial(drain_once, server, template, c, n), DRAIN_KEYS)
                for c in DRAIN_CONFIGS if chosen(wanted, c.system)
                for n in [min(args.tasks, c.max_tasks or args.tasks)]]
        if "enqueue" in only:
            res["enqueue"] = [
                row({"name": m.name, "mode": m.mode, "tasks": n}, f"enqueue {m.name} {m.mode}",
                    args.reps, partial(enqueue_once, server, template, m, n), ENQUEUE_KEYS)
                for m in METHODS if chosen(wanted, m.name)
                for n in [args.tasks if m.mode == "bulk" else args.one_by_one_tasks]]
        if "latency" in only:
            res["latency"] = [
                row({"system": c.system, "label": c.label}, f"latency {c.system}", args.reps,
                    partial(latency_once, server, template, c, args.latency_tasks),
                    ["p50_ms", "p95_ms", "p99_ms"])
                for c in LATENCY_CONFIGS if chosen(wanted, c.system)]
        if "http" in only and chosen(wanted, "pgtask"):
            n = min(args.tasks, HTTP_TASKS)
            with NoopServer() as target:
                res["http"] = [
                    row({"label": c.label, "processes": c.processes, "tasks": n},
                        f"http {c.label} x{c.processes}", args.reps,
                        partial(http_once, server, template, target, c, n), DRAIN_KEYS)
                    for c in HTTP_CONFIGS]
            res["http_dispatcher"] = row({"tasks": args.tasks}, "http dispatcher alone",
                                         args.reps, partial(dispatcher_once, args.tasks),
                                         ["tasks_per_s", "worker_us_per_task"])
        if "sustained" in only:
            print(f"sustained: {args.sustained_tasks:,} tasks", flush=True)
            res["sustained"] = {**sustained_once(server, template, args.sustained_tasks),
                                "config": f"{SUSTAINED_CONFIG.processes} processes, "
                                          f"{SUSTAINED_CONFIG.label}"}
    finally:
        server.drop(template)
    wall = time.perf_counter() - t0
    res["meta"]["wall_seconds"] = wall
    other = [r["other_load_pct"] for group in ("drain", "enqueue")
             for line in res.get(group, []) for r in line["runs"]]
    res["meta"]["foreign_load"] = (
        (f"median {statistics.median(other):.0f}% (max {max(other):.0f}%) of the 2 cores "
         "went to other processes during the drain/enqueue runs; " if other else "")
        + f"run took {wall / 60:.1f} min; load average at the end {os.getloadavg()[0]:.1f}")
    os.makedirs(os.path.join(measure.BENCH_DIR, "results"), exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = os.path.join(measure.BENCH_DIR, "results", f"bench-{stamp}.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1, default=str)
    publish(res, is_full(vars(args)))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
