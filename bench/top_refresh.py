"""What one `pgtask top` refresh costs on a database with 1,000,000 history rows.

    .venv/bin/python bench/top_refresh.py [--server "host=127.0.0.1 user=postgres"]
        [--history 1000000] [--recent-rate 100] [--hot 10000] [--refreshes 50] [--keep]

Creates the scratch database pgtask_bench_top, migrates it and fills it with one
INSERT ... SELECT generate_series into task_history: `--recent-rate` tasks per second over
the last five minutes (the window top reads), the rest spread over the 7 days before; 1 % dead,
1 % cancelled. The hot table gets `--hot` queued tasks and 100 running ones; 8 workers
register. Then it counts the statements of one refresh (libpq trace), times the first
refresh (which reads all five minutes) and steady-state refreshes one second apart (which read
only what finished since: the `now` parameter walks through the filled window), and EXPLAINs
each query. Not a test: run it by hand, and copy the figures to docs/operations.md.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import tempfile
import time
from datetime import timedelta

import psycopg
from psycopg.pq import Trace
from psycopg.rows import dict_row

from pgtask.console.render import render
from pgtask.ops.snapshot import from_rows
from pgtask.ops.window import Window
from pgtask.store.migrate import migrate
from pgtask.store.postgres.inspect import list_tasks, task_counts
from pgtask.store.postgres.top import TOP_QUERIES, top_rows

DB = "pgtask_bench_top"

FILL_HISTORY = """
insert into pgtask.task_history (id, queue, task_type, payload, state, priority, run_at, attempt,
  created_at, started_at, attempted_at, finished_at, errors, result, message)
select nextval('pgtask.task_id_seq'), 'q' || mod(i, 10), 'bench.task', '{"n": 1}', s.state, 0,
       f.at - interval '2 seconds', 1, f.at - interval '3 seconds', f.at - interval '1 second',
       f.at - interval '1 second', f.at,
       case when s.state = 'dead' then jsonb_build_array(jsonb_build_object(
         'attempt', 1, 'at', f.at, 'worker_id', 'w', 'error', 'boom')) else '[]' end,
       case when s.state = 'succeeded' then '{"ok": true}'::jsonb end,
       case when s.state = 'dead' then 'boom' end
  from generate_series(1, %(n)s) i,
       lateral (select now() - make_interval(secs => case
                  when i <= %(recent)s then i::float8 / %(rate)s
                  else 300 + (i - %(recent)s) * (7 * 86400 - 300)::float8
                             / greatest(1, %(n)s - %(recent)s)
                end) as at) f,
       lateral (select (case mod(i, 100) when 0 then 'dead' when 1 then 'cancelled'
                        else 'succeeded' end)::pgtask.task_state as state) s
"""
FILL_HOT = """
insert into pgtask.tasks (queue, task_type, payload, run_at, errors)
select 'q' || mod(i, 10), 'bench.task', '{"n": 1}', now() - make_interval(secs => mod(i, 600)),
       case when mod(i, 50) = 0 then jsonb_build_array(jsonb_build_object(
         'attempt', 1, 'at', now() - interval '30 seconds', 'worker_id', 'w', 'error', 'retry'))
       else '[]' end
  from generate_series(1, %(n)s) i
"""
FILL_RUNNING = """
insert into pgtask.tasks (queue, task_type, payload, state, run_at, attempt, lease_token,
                          lease_expires_at, worker_id, started_at, attempted_at)
select 'q' || mod(i, 10), 'bench.task', '{}', 'running', now() - interval '2 seconds', 1,
       gen_random_uuid(), now() + interval '1 hour', 'w' || mod(i, 8), now() - interval '1 second',
       now() - interval '1 second'
  from generate_series(1, 100) i
"""


def setup(server: str, args) -> str:
    with psycopg.connect(f"{server} dbname=postgres", autocommit=True) as admin:
        admin.execute(f"drop database if exists {DB}")
        admin.execute(f"create database {DB}")
    dsn = f"{server} dbname={DB}"
    migrate(dsn)
    recent = int(args.recent_rate * 300)
    with psycopg.connect(dsn) as conn:
        conn.execute("set local pgtask.notify = 'off'")
        conn.execute("insert into pgtask.queues (name) "
                     "select 'q' || i from generate_series(0, 9) i")
        started = time.perf_counter()
        conn.execute(FILL_HISTORY, {"n": args.history, "recent": recent, "rate": args.recent_rate})
        conn.execute(FILL_HOT, {"n": args.hot})
        conn.execute(FILL_RUNNING)
        for w in range(8):
            conn.execute("select pgtask.register_worker(%s, 'bench-host', %s, null, null, 16)",
                         (f"w{w}", 1000 + w))
        print(f"filled in {time.perf_counter() - started:.1f}s")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("vacuum analyze")
    return dsn


def statements_per_refresh(conn) -> collections.Counter:
    with tempfile.NamedTemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        top_rows(conn)
        conn.pgconn.untrace()
        with open(trace.name) as traced:
            lines = traced.read().splitlines()
    sent = [line.split("\t")[2] for line in lines if line.startswith("F\t")]
    return collections.Counter(kind for kind in sent if kind in ("Parse", "Sync"))


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> str:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return f"median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms"


def explain(conn, query: str, params: dict) -> float:
    plan = conn.execute("explain (analyze, format json) " + query,
                        params if "%(" in query else None).fetchone()
    return plan["QUERY PLAN"][0]["Execution Time"]


def steady(conn, base, refreshes: int) -> tuple[list[float], list[float]]:
    """Refreshes one second apart after a first full one: (query times, render times) in ms."""
    window = Window()
    from_rows(top_rows(conn, now=base), window)
    queries, renders = [], []
    for k in range(1, refreshes + 1):
        started = time.perf_counter()
        rows = top_rows(conn, since=window.until, now=base + timedelta(seconds=k))
        middle = time.perf_counter()
        render(from_rows(rows, window), 160)
        queries.append((middle - started) * 1000)
        renders.append((time.perf_counter() - middle) * 1000)
    return queries, renders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="host=127.0.0.1 user=postgres")
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--recent-rate", type=float, default=100.0)
    parser.add_argument("--hot", type=int, default=10_000)
    parser.add_argument("--refreshes", type=int, default=50)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    dsn = setup(args.server, args)
    try:
        with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
            counts = conn.execute("select (select count(*) from pgtask.task_history) as history, "
                                  "(select count(*) from pgtask.tasks) as hot").fetchone()
            print(f"history rows {counts['history']:,}, hot rows {counts['hot']:,}, "
                  f"last 5 min {int(args.recent_rate * 300):,} finished")
            # Start 100 s before the end of the fill, so that 100 steady refreshes find work.
            base = conn.execute("select max(finished_at) - interval '100 seconds' as t "
                                "from pgtask.task_history").fetchone()["t"]
            for _ in range(3):
                top_rows(conn, now=base)
            sent = statements_per_refresh(conn)
            print(f"one refresh: {sent['Parse']} statements (BEGIN, 2 SETs, "
                  f"{len(TOP_QUERIES)} queries, COMMIT), {sent['Sync']} syncs, one pipeline")
            first = timed(lambda: from_rows(top_rows(conn, now=base)), 10)
            print(f"first refresh (5 min read) {summary(first)}")
            queries, renders = steady(conn, base, min(args.refreshes, 100))
            print(f"steady refresh (queries)   {summary(queries)}")
            print(f"steady refresh (render)    {summary(renders)}")
            full = {"now": base, "since": None}
            later = {"now": base + timedelta(seconds=1), "since": base - timedelta(seconds=1)}
            for name, query in TOP_QUERIES.items():
                print(f"  {name:8s} server execution {explain(conn, query, full):7.2f} ms"
                      + (f" (first), {explain(conn, query, later):6.2f} ms (steady)"
                         if "since" in query else ""))
            deep = conn.execute("select max(id) - 1000 as id "
                                "from pgtask.task_history").fetchone()["id"]
            print(f"ls first page              {summary(timed(lambda: list_tasks(conn), 20))}")
            print(f"ls page deep in history    "
                  f"{summary(timed(lambda: list_tasks(conn, after=deep), 20))}")
            print(f"ls --state dead            "
                  f"{summary(timed(lambda: list_tasks(conn, state='dead', after=deep // 2), 20))}")
            print(f"ls --queue q3              "
                  f"{summary(timed(lambda: list_tasks(conn, queue='q3', after=deep // 2), 20))}")
            print(f"stats (full count)         {summary(timed(lambda: task_counts(conn), 3))}")
    finally:
        if not args.keep:
            with psycopg.connect(f"{args.server} dbname=postgres", autocommit=True) as admin:
                admin.execute(f"drop database if exists {DB}")


if __name__ == "__main__":
    main()
