"""A Postgres restart under load: no worker exits, every task eventually succeeds.

Restarts the local cluster with pg_ctlcluster, so it needs the Debian-packaged server at
127.0.0.1:5432 (as on the dev machines and CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import psycopg
import pytest

import pgtask
from tests.support.waiting import wait_until
from tests.support.workers import states

pytestmark = pytest.mark.slow


def restart_local_postgres() -> None:
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True)
    version, name = clusters.stdout.split()[:2]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart",
                    "-m", "fast"], check=True, capture_output=True, timeout=120)


def server_answers(dsn: str) -> bool:
    try:
        psycopg.connect(dsn, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def test_postgres_restart_under_load(pg_server, chaos_dsn, spawn):
    if pg_server.host != "127.0.0.1" or not shutil.which("pg_ctlcluster"):
        if os.environ.get("CI") == "true":
            pytest.fail("this test needs the local pg_ctlcluster-managed server in CI")
        pytest.skip("needs a local pg_ctlcluster-managed Postgres")
    with psycopg.connect(chaos_dsn, autocommit=True) as conn:
        pgtask.enqueue_many(conn, [("chaos.run", {"do": "sleep", "seconds": 0.01})] * 3000)
    workers = [spawn("--concurrency", "20"), spawn("--concurrency", "20")]

    def done() -> int:
        try:
            with psycopg.connect(chaos_dsn, autocommit=True, connect_timeout=2) as conn:
                return states(conn).get("succeeded", 0)
        except psycopg.OperationalError:
            return 0

    wait_until(lambda: done() >= 300, timeout=60, message="work under way")
    restart_local_postgres()
    wait_until(lambda: server_answers(chaos_dsn), timeout=60, message="server back")
    wait_until(lambda: done() == 3000, timeout=120, interval=0.2, message="all tasks succeeded")
    assert all(w.proc.poll() is None for w in workers), [w.log()[-2000:] for w in workers]
