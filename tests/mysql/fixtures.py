"""MySQL/MariaDB fixtures: a fresh, migrated database per test on the server at 127.0.0.1:3306.

MySQL has no template databases, so each test's database is created and migrated (about
0.2-0.4 s on MariaDB) and dropped afterwards. With CI=true an unreachable server fails the
run instead of skipping it. $PGTASK_TEST_MYSQL points the suite at another server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pymysql
import pytest

from pgtask.config import redact_dsn
from pgtask.errors import ConfigError
from pgtask.store.migrate import migrate
from pgtask.store.mysql.store import connect

CI = os.environ.get("CI", "").lower() == "true"
SERVER_URL = os.environ.get("PGTASK_TEST_MYSQL", "mysql://root@127.0.0.1:3306").rstrip("/")


@pytest.fixture(scope="session")
def mysql_server() -> str:
    """The server's URL without a database; fails under CI, skips elsewhere, when it is down."""
    try:
        connect(f"{SERVER_URL}/mysql", connect_timeout=3).close()
    except ConfigError as exc:
        message = (f"no MySQL/MariaDB answers at {redact_dsn(SERVER_URL)} ({exc}); "
                   "../shared/services.sh starts it")
        if CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return SERVER_URL


@pytest.fixture
def new_mysql_database(mysql_server: str) -> Iterator[Callable[..., str]]:
    """Factory: a new database (migrated unless migrated=False); returns its DSN."""
    names: list[str] = []
    admin = connect(f"{mysql_server}/mysql", autocommit=True)

    def make(migrated: bool = True) -> str:
        name = "pgtask_t_" + uuid.uuid4().hex[:16]
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")  # name: our own hex, not input
        names.append(name)
        dsn = f"{mysql_server}/{name}"
        if migrated:
            migrate(dsn)
        return dsn

    yield make
    with admin.cursor() as cur:
        for name in names:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.close()


@pytest.fixture
def mysql_dsn(new_mysql_database) -> str:
    """DSN of this test's own migrated MySQL database."""
    return new_mysql_database()


@pytest.fixture
def mydb(mysql_dsn: str) -> Iterator[pymysql.connections.Connection]:
    """An autocommit connection to this test's MySQL database, rows as dicts."""
    conn = connect(mysql_dsn, autocommit=True, cursorclass=pymysql.cursors.DictCursor)
    yield conn
    conn.close()
