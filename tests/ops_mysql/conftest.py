"""Fixtures of the MySQL operations tests: a migrated MariaDB database per test (tests/mysql),
the CLI runner of tests/ops, and `conn`, a dict-row autocommit connection to the database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgtask.store.mysql.schema import connect
from tests.mysql.fixtures import mysql_dsn, mysql_server, new_mysql_database  # noqa: F401
from tests.ops.conftest import run_cli  # noqa: F401


@pytest.fixture
def conn(mysql_dsn: str) -> Iterator:
    c = connect(mysql_dsn)
    yield c
    c.close()
