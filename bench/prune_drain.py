"""Pruning while draining: a drain's rate while the worker's maintenance prunes old history.

    .venv/bin/python bench/prune_drain.py --old /tmp/base18/src [--new src] [--reps 3]

For each source tree (`--new`, default this checkout's src/, and `--old` if given) a
template database is migrated by that tree's own `pgtask migrate` and filled with --rows
finished tasks 30 days old (with idempotency keys and log lines, as real history has).
Each run clones it, starts one `pgtask worker -c 200 --rescue-interval 1s` from that tree,
and as soon as the worker has registered (its maintenance starts pruning then) enqueues
--tasks no-op tasks in one transaction; the clock runs from that commit until pgtask.tasks
is empty. `--retention 1d` makes every filled row expired, so the prune runs during the
drain; `--retention none` is the same drain with the history kept. The repetition loop is
outermost (a busy moment of the machine hits every tree and retention alike). Prints each
run, the medians with (min-max), and per tree the ratio of tasks/s expiring / retained.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

import measure
from drain import clock_until_done
from run import find_server, machine
from systems import BIN

PY = os.path.join(BIN, "python")
RETENTIONS = ("none", "1d")  # history kept, every filled row expired
FIRST_ID = 1_000_000_000  # the filled history's ids, far above the drain's own

# The history a long-running queue leaves behind: succeeded tasks 30 days old, one in ten
# with an idempotency key, one in five with a log line. %(n)s rows; one statement each
# (psycopg sends parameters with one statement at a time).
FILL = (
    """
insert into pgtask.task_history (id, queue, task_type, payload, state, priority, run_at,
                                 attempt, created_at, finished_at, errors, idempotency_key)
select %(first)s + i, 'default', 't', '{"n": 1}', 'succeeded', 0, now() - interval '30 days',
       1, now() - interval '30 days', now() - interval '30 days' + i * interval '1 ms', '[]',
       case when i %% 10 = 0 then 'k' || i end
  from generate_series(1, %(n)s) i
""",
    """
insert into pgtask.idempotency_keys (queue, key, task_id)
select 'default', 'k' || i, %(first)s + i from generate_series(10, %(n)s, 10) i
""",
    """
insert into pgtask.task_logs (task_id, attempt, at, level, message)
select %(first)s + i, 1, now(), 'info', 'line' from generate_series(1, %(n)s, 5) i
""",
)
ENQUEUE = ("select count(*) from pgtask.enqueue_tasks("
           "array_fill('bench.noop'::text, array[%s]))")
REGISTERED = "select exists (select 1 from pgtask.workers)"
UNFINISHED = "select exists (select 1 from pgtask.tasks)"
FINISHED = "select count(*) from pgtask.task_history where id < %s and state = 'succeeded'"
EXPIRED = "select count(*) from pgtask.task_history where finished_at < now() - interval '1 day'"
WHERE_IMPORTED = "import pgtask, sys; sys.stdout.write(pgtask.__file__)"


def tree_env(tree: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([tree, measure.BENCH_DIR])}


def check_tree(tree: str) -> None:
    """The tree's own pgtask is what its processes import (not the installed one)."""
    done = subprocess.run([PY, "-c", WHERE_IMPORTED], env=tree_env(tree), cwd="/",
                          capture_output=True, text=True, check=True)
    if not os.path.realpath(done.stdout).startswith(os.path.realpath(tree) + os.sep):
        raise SystemExit(f"{tree}: its processes would import pgtask from {done.stdout}")


def build_template(server: measure.Server, label: str, tree: str, rows: int) -> str:
    name = server.create(f"bench_prune_tpl_{label}")
    dsn = server.dsn(name)
    done = subprocess.run([PY, "-m", "pgtask", "migrate", "--dsn", dsn], env=tree_env(tree),
                          cwd="/", capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{tree}: pgtask migrate failed:\n{done.stdout}\n{done.stderr}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in FILL:
            conn.execute(statement, {"first": FIRST_ID, "n": rows})
        conn.execute("vacuum analyze")
    return name


@contextmanager
def registered_worker(server: measure.Server, template: str, tree: str, argv: list[str],
                      log: str) -> Iterator[tuple[str, psycopg.Connection, list]]:
    """A clone of `template` with one worker from `tree` registered: (dsn, monitor, procs).
    Not settled further: its first prune starts about now, and so does the drain."""
    name = server.create("bench_prune", template)
    dsn = server.dsn(name)
    procs: list = []
    try:
        with psycopg.connect(dsn, autocommit=True) as monitor:
            procs = [measure.start([PY, "-m", "pgtask", "worker", "--dsn", dsn, *argv],
                                   {"PYTHONPATH": tree_env(tree)["PYTHONPATH"]}, log)]

            def registered() -> bool:
                if procs[0].poll() is not None:
                    raise RuntimeError(f"worker exited with {procs[0].returncode}: see "
                                       f"bench/results/{log}.log")
                return monitor.execute(REGISTERED).fetchone()[0]

            measure.wait_for(registered, 60, "the worker to register", every=0.02)
            yield dsn, monitor, procs
    finally:
        measure.stop(procs)
        server.drop(name)


def drain_once(server: measure.Server, template: str, label: str, tree: str,
               retention: str, args: argparse.Namespace) -> dict:
    argv = ["-H", "handlers", "--concurrency", str(args.concurrency), "--retention", retention,
            "--rescue-interval", args.rescue_interval, "--log-level", "warning"]
    log = f"bench_prune-{label}-{retention}"
    with registered_worker(server, template, tree, argv, log) as (dsn, monitor, procs):
        with psycopg.connect(dsn) as conn:
            conn.execute(ENQUEUE, (args.tasks,))
            conn.commit()
        result = clock_until_done(monitor, procs, UNFINISHED, args.tasks,
                                  f"{label} retention={retention}")
        result["expired_left"] = monitor.execute(EXPIRED).fetchone()[0]
        finished = monitor.execute(FINISHED, (FIRST_ID,)).fetchone()[0]
    if finished != args.tasks:
        raise RuntimeError(f"{label} retention={retention}: {finished} of {args.tasks} "
                           "tasks succeeded")
    return result


def line(result: dict) -> str:
    return (f"drain {result['seconds']:.2f}s ({result['tasks_per_s']:,.0f}/s), worker "
            f"{result['worker_us_per_task']:.0f} / Postgres {result['postgres_us_per_task']:.0f}"
            f" us/task, expired rows left at drain end {result['expired_left']:,}")


def print_report(runs: dict[tuple[str, str], list[dict]], trees: dict[str, str]) -> None:
    def fig(label: str, retention: str, key: str, fmt: str) -> str:
        s = measure.summary([r[key] for r in runs[label, retention]])
        return f"{s['median']:{fmt}} ({s['min']:{fmt}}-{s['max']:{fmt}})"

    print("\n| tree | retention | drain s | tasks/s | worker us/task | Postgres us/task |"
          "\n|---|---|---|---|---|---|")
    for label in trees:
        for retention in RETENTIONS:
            print(f"| {label} | {retention} | {fig(label, retention, 'seconds', '.2f')} | "
                  f"{fig(label, retention, 'tasks_per_s', ',.0f')} | "
                  f"{fig(label, retention, 'worker_us_per_task', '.0f')} | "
                  f"{fig(label, retention, 'postgres_us_per_task', '.0f')} |")
    print()
    for label in trees:
        kept, expiring = (measure.summary([r["tasks_per_s"] for r in runs[label, ret]])
                          ["median"] for ret in RETENTIONS)
        print(f"{label} ({trees[label]}): expiring / retained = {expiring:,.0f} / "
              f"{kept:,.0f} tasks/s = {expiring / kept:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", help="a second source tree (its src/ directory)")
    parser.add_argument("--new", default=os.path.join(measure.BENCH_DIR, os.pardir, "src"),
                        help="the source tree under test (default: this checkout's src/)")
    parser.add_argument("--dsn", help="server URL (default: 127.0.0.1:5432, else `pgtask dsn`)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000, help="expired history rows")
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks per drain")
    parser.add_argument("--concurrency", "-c", type=int, default=200)
    parser.add_argument("--rescue-interval", default="1s", help="the worker's maintenance "
                        "interval (its first round starts at once either way)")
    args = parser.parse_args()
    trees = {label: os.path.realpath(path)
             for label, path in (("old", args.old), ("new", args.new)) if path}
    for tree in trees.values():
        check_tree(tree)
    server = find_server(args.dsn)
    print(f"{machine()}; {args.rows:,} expired rows, {args.tasks:,} tasks, "
          f"-c {args.concurrency}, --rescue-interval {args.rescue_interval}", flush=True)
    templates: dict[str, str] = {}
    runs: dict[tuple[str, str], list[dict]] = {}
    try:
        for label, tree in trees.items():
            templates[label] = build_template(server, label, tree, args.rows)
        for rep in range(args.reps):
            for label, tree in trees.items():
                for retention in RETENTIONS:
                    result = drain_once(server, templates[label], label, tree, retention, args)
                    runs.setdefault((label, retention), []).append(result)
                    print(f"rep {rep} {label} retention={retention}: {line(result)}",
                          flush=True)
    finally:
        for name in templates.values():
            server.drop(name)
    print_report(runs, trees)


if __name__ == "__main__":
    main()
