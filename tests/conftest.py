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
from tests.support.private_pg import PrivateServer, Unavailable, new_private_server
from tests.support.workers import WorkerProcess, prepare_chaos_queue

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
    return PgServer(str(info["host"]), int(info.get("port") or 5432),
                    str(info.get("user") or "postgres"))


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    server = _local_server()
    if server is not None:
        return server
    if CI:
        pytest.fail("CI=true but no PostgreSQL answers at 127.0.0.1:5432 "
                    "(../shared/services.sh starts it)")
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
    prepare_chaos_queue(dsn)
    return dsn


@pytest.fixture
def spawn_on():
    """Factory: spawn_on(dsn, *args) starts a chaos worker on that database; stopped after."""
    started: list[WorkerProcess] = []

    def start(dsn: str, *args: str, **kw) -> WorkerProcess:
        worker = WorkerProcess(dsn, *args, **kw)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def spawn(chaos_dsn, spawn_on):
    """Factory: spawn(*args) starts a chaos worker on chaos_dsn; stopped after the test."""
    return lambda *args, **kw: spawn_on(chaos_dsn, *args, **kw)


# -- a private server, for tests that stop, restart or freeze Postgres -------------------


@pytest.fixture
def private_pg() -> Iterator[PrivateServer]:
    """A Postgres server of this test's own (tests/support/private_pg.py): stop, restart or
    signal it freely. Missing binaries skip the test, or fail it with CI=true."""
    try:
        server = new_private_server()
    except Unavailable as exc:
        if CI:
            pytest.fail(f"CI=true and no private Postgres can run here: {exc}")
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def private_chaos_dsn(private_pg: PrivateServer) -> str:
    """A migrated database on the private server, prepared like chaos_dsn."""
    with psycopg.connect(private_pg.dsn(), autocommit=True) as conn:
        conn.execute("create database pgtask_private")
    dsn = private_pg.dsn("pgtask_private")
    migrate(dsn)
    prepare_chaos_queue(dsn)
    return dsn


@pytest.fixture
def private_spawn(private_chaos_dsn, spawn_on):
    """Factory: like spawn, on the private server's database."""
    return lambda *args, **kw: spawn_on(private_chaos_dsn, *args, **kw)
