"""`pgtask worker` refuses what it cannot serve: one line, exit status 2, no traceback.

Each test runs the real CLI in a subprocess against a database of its own on the shared
server (a scratch database the fixtures create and drop; its settings are ours to change).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from pgtask.config import redact_dsn
from pgtask.store.migrate import head_revision
from tests.mysql.fixtures import mysql_server, new_mysql_database  # noqa: F401 (fixtures)
from tests.support.waiting import SCALE, wait_until

ROOT = Path(__file__).resolve().parents[2]
# This checkout's pgtask and its tests (tests.support.chaos), as tests/support/workers.py
PYTHONPATH = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
HANDLERS = ("--handlers", "tests.support.chaos")


@dataclass
class Result:
    code: int
    err: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return self.err.splitlines()


def pgtask(*args: str, timeout: float = 15.0) -> Result:
    """Run `python -m pgtask ARGS` to its end (a worker that starts would run forever:
    the timeout fails the test)."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pgtask", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout * SCALE,
                          env={**os.environ, "PYTHONPATH": PYTHONPATH})
    return Result(done.returncode, done.stdout + done.stderr, time.monotonic() - start)


def assert_refused(result: Result, *fragments: str) -> str:
    """Exit 2, no traceback, and exactly one error line (the last one), which holds every
    fragment; returns that line."""
    assert "Traceback" not in result.err, result.err
    assert result.code == 2, result.err
    errors = [line for line in result.lines if line.startswith("pgtask: ")]
    assert errors == [result.lines[-1]], result.err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def set_revision(dsn: str, revision: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("update pgtask.alembic_version set version_num = %s", (revision,))


def alter_database(pg_server, dsn: str, setting: str, value: str) -> str:
    """ALTER DATABASE <this test's scratch database> SET setting = value; its name."""
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("alter database {} set {} = {}").format(
            psycopg.sql.Identifier(name), psycopg.sql.Identifier(setting),
            psycopg.sql.Literal(value)))
    return str(name)


# -- the schema -----------------------------------------------------------------------


def test_never_migrated_database(empty_dsn):
    line = assert_refused(pgtask("worker", "--dsn", empty_dsn, *HANDLERS))
    where = redact_dsn(empty_dsn)
    assert line == f"pgtask: {where} has no pgtask schema: run `pgtask migrate` first"


def test_older_schema(dsn):
    set_revision(dsn, "0001")
    assert_refused(pgtask("worker", "--dsn", dsn, *HANDLERS),
                   f"is at schema revision 0001, this pgtask needs {head_revision()}: "
                   "run `pgtask migrate`")


def test_newer_schema(dsn):
    set_revision(dsn, "9999")
    assert_refused(pgtask("worker", "--dsn", dsn, *HANDLERS),
                   "is at schema revision 9999, written by a newer pgtask",
                   "upgrade the pgtask package")


def test_migrate_refuses_a_newer_schema_and_leaves_it(dsn):
    set_revision(dsn, "9999")
    assert_refused(pgtask("migrate", "--dsn", dsn), "upgrade the pgtask package")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select version_num from pgtask.alembic_version").fetchone() == (
            "9999",)


# -- settings that make progress impossible ---------------------------------------------


def test_statement_timeout_too_short(pg_server, dsn):
    # Under 1 s, yet long enough that the preflight's own queries finish on a busy machine
    # (5ms sometimes cancelled them first, under `make test`'s two processes).
    name = alter_database(pg_server, dsn, "statement_timeout", "500ms")
    assert_refused(pgtask("worker", "--dsn", dsn, *HANDLERS),
                   "statement_timeout is 500ms for role postgres",
                   f"ALTER DATABASE {name} SET statement_timeout = 0", "at least 1s")


def test_statement_timeout_set_by_the_connection(dsn):
    assert_refused(pgtask("worker", "--dsn", f"{dsn} options=-cstatement_timeout=600",
                          *HANDLERS),
                   "statement_timeout is 600ms", "from the DSN's options or $PGOPTIONS")


def test_a_usable_statement_timeout_is_served(pg_server, dsn, spawn_on):
    alter_database(pg_server, dsn, "statement_timeout", "2s")
    worker = spawn_on(dsn)
    wait_until(lambda: "started:" in worker.log(), 20, message="the worker to start")
    assert worker.proc.poll() is None


def test_read_only_database(pg_server, dsn):
    alter_database(pg_server, dsn, "default_transaction_read_only", "on")
    assert_refused(pgtask("worker", "--dsn", dsn, *HANDLERS),
                   "is read-only (default_transaction_read_only is on)")


# -- connections the server refuses -------------------------------------------------------


def test_missing_database_gives_the_servers_reason_at_once(pg_server):
    name = "pgtask_missing_" + uuid.uuid4().hex[:8]
    result = pgtask("worker", "--dsn", pg_server.dsn(name), *HANDLERS)
    assert_refused(result, f"cannot connect to {pg_server.dsn(name)}: ",
                   f'database "{name}" does not exist')
    assert result.seconds < 10  # a final refusal: no 15 s of retries
    assert "psycopg.pool" not in result.err  # no pool retrying behind it


def test_missing_role_never_shows_the_password(pg_server):
    role = "pgtask_nobody_" + uuid.uuid4().hex[:8]
    dsn = (f"host={pg_server.host} port={pg_server.port} user={role} password=hunter2-secret "
           "dbname=postgres")
    result = pgtask("worker", "--dsn", dsn, *HANDLERS)
    line = assert_refused(result, "password=***", role)
    assert "does not exist" in line or "authentication failed" in line
    assert "hunter2" not in result.err


# -- the knobs --------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--heartbeat-interval", "30s", "heartbeat interval must be at most 20s"),
    ("--db-timeout", "0s", "must be positive"),
    ("--rescue-interval", "0", "must be positive"),
    ("--db-timeout", "soon", "invalid duration 'soon'"),
])
def test_knobs_are_checked(dsn, option, value, message):
    result = pgtask("worker", "--dsn", dsn, *HANDLERS, option, value)
    assert result.code == 2 and message in result.err, result.err


def test_heartbeat_interval_is_honoured(chaos_dsn, spawn_on, db):
    spawn_on(chaos_dsn, "--heartbeat-interval", "300ms", "--rescue-interval", "1s",
             "--db-timeout", "2s")
    seen: set = set()

    def beats() -> bool:
        row = db.execute("select max(heartbeat_at) as at from pgtask.workers").fetchone()
        if row["at"] is not None:
            seen.add(row["at"])
        return len(seen) >= 5

    wait_until(beats, 10, message="five heartbeats")
    times = sorted(seen)
    gaps = [(b - a).total_seconds() for a, b in zip(times[1:], times[2:], strict=False)]
    assert max(gaps) < 1.5, gaps  # the default would beat every 5 s


# -- MySQL/MariaDB --------------------------------------------------------------------------


def test_mysql_never_migrated_and_newer(request):
    make = request.getfixturevalue("new_mysql_database")
    empty = make(migrated=False)
    assert_refused(pgtask("worker", "--dsn", empty, *HANDLERS),
                   "has no pgtask schema: run `pgtask migrate` first")
    newer = make()
    from pgtask.store.mysql.store import connect

    conn = connect(newer, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("UPDATE pgtask_alembic_version SET version_num = '9999'")
    conn.close()
    assert_refused(pgtask("worker", "--dsn", newer, *HANDLERS), "upgrade the pgtask package")
    assert_refused(pgtask("migrate", "--dsn", newer), "upgrade the pgtask package")


def test_mysql_missing_database(request):
    server = request.getfixturevalue("mysql_server")
    dsn = f"{server}/pgtask_missing_{uuid.uuid4().hex[:8]}"
    assert_refused(pgtask("worker", "--dsn", dsn, *HANDLERS), "Unknown database")
