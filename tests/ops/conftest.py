"""Fixtures of the operations tests: the real CLI entry point, and each test's database on
the backend it runs against (backends.py)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pgtask.cli import main
from tests.mysql.fixtures import mysql_server, new_mysql_database  # noqa: F401 (fixtures)

from .backends import MySQLOps, OpsBackend, PostgresOps

# The contract suite's way (tests/contract/conftest.py): a test that takes `backend` runs once
# on each; the MySQL run carries the marker, so `-m "not mysql"` leaves it out.
BACKENDS = ["postgres", pytest.param("mysql", marks=pytest.mark.mysql)]
FIXTURES = {"postgres": "pg_ops", "mysql": "mysql_ops"}


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """run_cli(*args, stdin="") -> CliResult, through pgtask.cli.main (exit codes included)."""

    def run(*args: str, stdin: str = "") -> CliResult:
        monkeypatch.setattr(sys, "argv", ["pgtask", *args])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        monkeypatch.setenv("COLUMNS", "200")
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def pg_ops(request) -> Iterator[PostgresOps]:
    """This test's database on Postgres, for what only Postgres does."""
    ops = PostgresOps(request.getfixturevalue)
    yield ops
    ops.close()


@pytest.fixture
def mysql_ops(request) -> Iterator[MySQLOps]:
    """This test's database on MySQL/MariaDB, for what only MySQL does (mark the test mysql)."""
    ops = MySQLOps(request.getfixturevalue)
    yield ops
    ops.close()


@pytest.fixture(params=BACKENDS)
def backend(request) -> OpsBackend:
    """This test's database, once on each backend."""
    return request.getfixturevalue(FIXTURES[request.param])
