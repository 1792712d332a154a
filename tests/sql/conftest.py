"""Fixtures for the SQL tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

from .helpers import install_roles


@pytest.fixture(scope="module")
def shared_db(pg_server, pg_template) -> Iterator[psycopg.Connection]:
    """One migrated database for a whole module, for tests that leave nothing behind:
    pure functions, and input the API must refuse (those tests check nothing was stored).
    Cloning a database per test costs about half a second; these tests need no clone."""
    name = "pgtask_m_" + uuid.uuid4().hex[:16]
    janitor = pg_server.janitor(name, template_dbname=pg_template)
    janitor.init()
    try:
        with psycopg.connect(pg_server.dsn(name), autocommit=True, row_factory=dict_row) as conn:
            yield conn
    finally:
        janitor.drop()


@pytest.fixture
def as_role(dsn, db):
    """Factory: a connection acting as the given role (SET ROLE; closed at the end)."""
    install_roles(db)
    conns: list[psycopg.Connection] = []

    def connect(role: str) -> psycopg.Connection:
        conn = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)
        conn.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(role)))
        conns.append(conn)
        return conn

    yield connect
    for conn in conns:
        conn.close()


@pytest.fixture
def listener(dsn) -> Iterator[psycopg.Connection]:
    """LISTENs like a worker that serves every queue and is waiting for work (on pgtask and
    pgtask_cancel). A module that needs a listener with no worker behind it defines its own."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgtask.register_worker('listener', 'test', 1, null, null, 1)")
        conn.execute("select pgtask.set_worker_waiting('listener', true)")
        conn.execute("listen pgtask")
        conn.execute("listen pgtask_cancel")
        yield conn
