"""The ceiling: a plain psycopg SKIP LOCKED loop, claim 100 + delete 100, no framework.

    python bare.py DSN [--latency]

Two round trips per batch. When a claim comes back empty it waits for a NOTIFY on
channel bench_jobs (or 1 s). With --latency it stamps each task's start like every
system's latency handler does (probe.record_start).
"""

from __future__ import annotations

import sys

import psycopg

from probe import record_start

BATCH = 100
CLAIM = """
with c as (
  select id from bench_jobs where state = 'queued' order by id limit %s for update skip locked
)
update bench_jobs j set state = 'running', locked_at = now() from c where j.id = c.id
returning j.id, j.payload
"""
DELETE = "delete from bench_jobs where id = any(%s)"


def main(dsn: str, latency: bool) -> None:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("listen bench_jobs")
    while True:
        rows = conn.execute(CLAIM, (BATCH,)).fetchall()
        if not rows:
            for _ in conn.notifies(timeout=1.0, stop_after=1):
                pass
            continue
        if latency:
            for _, payload in rows:
                record_start(payload["k"])
        conn.execute(DELETE, ([r[0] for r in rows],))


if __name__ == "__main__":
    main(sys.argv[1], "--latency" in sys.argv[2:])
