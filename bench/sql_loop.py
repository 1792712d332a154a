"""The SQL alone: claim + finish in one session, no worker; Postgres CPU µs per task.

    bench/.venv/bin/python bench/sql_loop.py [--batch 100] [--tasks 40000] [--sql-patch F]

Creates a scratch database (migrated, optionally patched with `create or replace function`
SQL), queues `--tasks` no-op tasks, then claims `--batch` and finishes them until none are
left, with pgtask's own CLAIM and FINISH statements. Prints tasks/s and the CPU per task of
the backend (utime + stime from /proc) and of this client: the steadiest way to compare two
versions of claim_task or finish_tasks on a shared machine (run them alternately).
"""

from __future__ import annotations

import argparse
import time

import psycopg

import measure
from pgtask.store.migrate import migrate
from pgtask.store.postgres.store import CLAIM, FINISH
from run import find_server

FILL = ("select count(*) from pgtask.enqueue_tasks(array_fill('bench.noop'::text, array[%s]),"
        " array_fill('{\"a\": 1}'::jsonb, array[%s]))")


def loop(dsn: str, batch: int, tasks: int) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(FILL, (tasks, tasks))
        conn.execute("vacuum analyze pgtask.tasks")
        pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        backend, wall, client = measure.proc_cpu(pid), time.perf_counter(), time.process_time()
        done = 0
        while rows := conn.execute(CLAIM, (None, "loop", batch, ["bench.noop"], False)).fetchall():
            n = len(rows)
            conn.execute(FINISH, ([r[0] for r in rows], [r[6] for r in rows], ["succeeded"] * n,
                                  None, None, None)).fetchall()
            done += n
        backend = measure.proc_cpu(pid) - backend
        wall, client = time.perf_counter() - wall, time.process_time() - client
    return (f"batch {batch}: {done:,} tasks, {done / wall:,.0f} tasks/s, Postgres "
            f"{1e6 * backend / done:.1f} us/task, client {1e6 * client / done:.1f} us/task")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dsn", help="server URL (default: 127.0.0.1:5432, else `pgtask dsn`)")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--tasks", type=int, default=40000)
    p.add_argument("--sql-patch", help="SQL applied after migrating")
    args = p.parse_args()
    server = find_server(args.dsn)
    name = server.create("bench_loop")
    try:
        dsn = server.dsn(name)
        migrate(dsn)
        if args.sql_patch:
            with open(args.sql_patch) as f, psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f.read())
        print(loop(dsn, args.batch, args.tasks))
    finally:
        server.drop(name)


if __name__ == "__main__":
    main()
