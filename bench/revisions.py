"""Two schema revisions side by side, SQL only: what a migration costs the hot path.

    .venv/bin/python bench/revisions.py 0003 0004 [--dsn host=127.0.0.1 user=postgres]

Creates bench_rev_<a> and bench_rev_<b>, migrates each to its revision, then alternates
repetitions (the loop over revisions innermost, so a busy moment hits both): 3,000
enqueue_task calls one by one, one enqueue_tasks of 20,000, and claim_task(100) +
finish_tasks until empty. Prints medians and the ratio b / a.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
from psycopg import sql

from pgtask.store.migrate import migrate

PAYLOAD = '{"a": [1, 2, {"b": 3}]}'
BULK = ("select count(*) from pgtask.enqueue_tasks(array_fill('t'::text, array[20000]),"
        " array_fill(%s::jsonb, array[20000]))")
CLAIM = "select id, lease_token from pgtask.claim_task(null, 'w', 100)"
FINISH = ("select count(*) from pgtask.finish_tasks(%s, %s,"
          " array_fill('succeeded'::text, array[%s]))")


def once(dsn: str) -> dict[str, float]:
    out = {}
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("truncate pgtask.tasks, pgtask.task_history cascade")
        t = time.perf_counter()
        for _ in range(3000):
            c.execute("select pgtask.enqueue_task('t', %s::jsonb)", (PAYLOAD,))
        out["enqueue one by one, us/call"] = (time.perf_counter() - t) / 3000 * 1e6
        t = time.perf_counter()
        c.execute(BULK, (PAYLOAD,))
        out["enqueue bulk, us/task"] = (time.perf_counter() - t) / 20000 * 1e6
        t, n = time.perf_counter(), 0
        while rows := c.execute(CLAIM).fetchall():
            n += len(rows)
            c.execute(FINISH, ([r[0] for r in rows], [r[1] for r in rows], len(rows)))
        out["claim 100 + finish, us/task"] = (time.perf_counter() - t) / n * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--dsn", default="host=127.0.0.1 user=postgres dbname=postgres")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    dsns = {}
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        for rev in (args.a, args.b):
            name = f"bench_rev_{rev}"
            admin.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
            dsns[rev] = psycopg.conninfo.make_conninfo(args.dsn, dbname=name)
            migrate(dsns[rev], rev)
    runs: dict[str, list[dict[str, float]]] = {rev: [] for rev in dsns}
    for _ in range(args.reps):
        for rev, dsn in dsns.items():
            runs[rev].append(once(dsn))
    print(f"| measure | {args.a} | {args.b} | ratio |\n|---|---|---|---|")
    for key in runs[args.a][0]:
        a, b = (statistics.median(r[key] for r in runs[rev]) for rev in (args.a, args.b))
        print(f"| {key} | {a:.1f} | {b:.1f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
