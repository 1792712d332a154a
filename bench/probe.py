"""What a latency handler calls first: stamp the database clock for task `k`.

Every system's handler (and the bare loop) records its start the same way: one INSERT on
a connection of its own, stamped with clock_timestamp(). The enqueuer stamps the commit in
its transaction's last statement, so both ends read the same clock.
"""

from __future__ import annotations

import os

import psycopg

_conn: psycopg.Connection | None = None

RECORD_START = "insert into bench_start (k, at) values (%s, clock_timestamp())"


def record_start(k: int) -> None:
    global _conn
    if _conn is None:
        _conn = psycopg.connect(os.environ["BENCH_DSN"], autocommit=True)
    _conn.execute(RECORD_START, (k,))
