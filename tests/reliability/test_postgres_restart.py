"""A Postgres restart under load: no worker exits, every task eventually succeeds.

The server restarted is the test's own (the private_pg fixture: initdb + pg_ctl on a free
port), never the shared one at 127.0.0.1:5432. With CI=true a machine that cannot run one
fails the test instead of skipping it.
"""

from __future__ import annotations

import psycopg
import pytest

import pgtask
from tests.support.waiting import wait_until
from tests.support.workers import states

pytestmark = pytest.mark.slow


def server_answers(dsn: str) -> bool:
    try:
        psycopg.connect(dsn, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def test_postgres_restart_under_load(private_pg, private_chaos_dsn, private_spawn):
    chaos_dsn = private_chaos_dsn
    with psycopg.connect(chaos_dsn, autocommit=True) as conn:
        pgtask.enqueue_many(conn, [("chaos.run", {"do": "sleep", "seconds": 0.01})] * 3000)
    workers = [private_spawn("--concurrency", "20"), private_spawn("--concurrency", "20")]

    def done() -> int:
        try:
            with psycopg.connect(chaos_dsn, autocommit=True, connect_timeout=2) as conn:
                return states(conn).get("succeeded", 0)
        except psycopg.OperationalError:
            return 0

    # Generous deadlines: on a loaded 2-core machine worker start-up alone can take seconds.
    wait_until(lambda: done() >= 300, timeout=120, message="work under way")
    private_pg.restart(mode="fast")  # our own server: every session is cut
    wait_until(lambda: server_answers(chaos_dsn), timeout=60, message="server back")
    wait_until(lambda: done() == 3000, timeout=300, interval=0.2, message="all tasks succeeded")
    assert all(w.proc.poll() is None for w in workers), [w.log()[-2000:] for w in workers]
