"""Test harness: real PostgreSQL, one fresh database per test cloned from a migrated template.

The server is the one at 127.0.0.1:5432 when it answers, else the embedded Postgres. With
CI=true a missing server fails the run instead of silently using something else.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from pgtask.store.migrate import migrate
from tests.support.workers import WorkerProcess, prepare_chaos

CI = os.environ.get("CI", "").lower() == "true"


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str

    def dsn(self, dbname: str) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def janitor(self, dbname: str, **kw) -> DatabaseJanitor:
        return DatabaseJanitor(user=self.user, host=self.host, port=self.port, dbname=dbname, **kw)


def _local_server() -> PgServer | None:
    server = PgServer("127.0.0.1", 5432, "postgres")
    try:
        psycopg.connect(server.dsn("postgres"), connect_timeout=3).close()
    except psycopg.OperationalError:
        return None
    return server


def _embedded_server() -> PgServer:
    from pgtask.embedded import embedded_dsn

    info = psycopg.conninfo.conninfo_to_dict(embedded_dsn())
    return PgServer(str(info["host"]), int(info.get("port") or 5432), str(info.get("user") or "postgres"))


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    server = _local_server()
    if server is not None:
        return server
    if CI:
        pytest.fail("CI=true but no PostgreSQL answers at 127.0.0.1:5432 (../shared/services.sh starts it)")
    return _embedded_server()


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> Iterator[str]:
    """A database migrated once per session, cloned for each test."""
    name = f"pgtask_tpl_{os.getpid()}"
    janitor = pg_server.janitor(name)
    janitor.drop()
    janitor.init()
    migrate(pg_server.dsn(name))
    yield name
    janitor.drop()


@pytest.fixture
def new_database(pg_server: PgServer, pg_template: str):
    """Factory: a fresh migrated database; returns its DSN. Dropped after the test."""
    janitors: list[DatabaseJanitor] = []

    def make() -> str:
        name = "pgtask_t_" + uuid.uuid4().hex[:16]
        janitor = pg_server.janitor(name, template_dbname=pg_template)
        janitor.init()
        janitors.append(janitor)
        return pg_server.dsn(name)

    yield make
    for janitor in janitors:
        janitor.drop()


@pytest.fixture
def dsn(new_database) -> str:
    """DSN of this test's own migrated database."""
    return new_database()


@pytest.fixture
def empty_dsn(pg_server: PgServer) -> Iterator[str]:
    """DSN of an empty, unmigrated database."""
    name = "pgtask_e_" + uuid.uuid4().hex[:16]
    janitor = pg_server.janitor(name)
    janitor.init()
    yield pg_server.dsn(name)
    janitor.drop()


@pytest.fixture
def db(dsn: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to this test's database, rows as dicts."""
    with psycopg.connect(dsn, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        yield conn


# -- chaos workers (tests/integration, tests/reliability) ---------------------------------


@pytest.fixture
def chaos_dsn(dsn):
    """This test's database, with the chaos run log and fast retries on the default queue."""
    prepare_chaos(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into pgtask.queues (name, min_backoff, max_backoff, backoff_jitter) "
                     "values ('default', '10 ms', '50 ms', 0)")
    return dsn


@pytest.fixture
def spawn(chaos_dsn):
    started: list[WorkerProcess] = []

    def start(*args: str, **kw) -> WorkerProcess:
        worker = WorkerProcess(chaos_dsn, *args, **kw)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
