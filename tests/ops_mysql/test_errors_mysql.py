"""Every operator command fails clearly, and non-zero, on MySQL too: unreachable server,
unmigrated database, schema from a newer pgtask (tests/ops/test_cli_errors.py)."""

import pytest

from tests.ops.test_cli_errors import COMMANDS

from .seed import rows

pytestmark = pytest.mark.mysql


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unreachable_server(run_cli, command):
    result = run_cli(*command, "--dsn", "mysql://someone:s3cret-pw@127.0.0.1:1/nowhere")
    assert result.code == 2
    assert "cannot connect to mysql://someone:***@127.0.0.1:1/nowhere" in result.err
    assert "s3cret-pw" not in result.err + result.out


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unmigrated_database(run_cli, new_mysql_database, command):
    result = run_cli(*command, "--dsn", new_mysql_database(migrated=False))
    assert result.code == 2 and "run `pgtask migrate`" in result.err


def test_schema_newer_than_the_package(run_cli, mysql_dsn, conn):
    rows(conn, "UPDATE pgtask_alembic_version SET version_num = '9999_from_the_future'")
    for command in (("top", "--once"), ("ls",), ("queue", "ls")):
        result = run_cli(*command, "--dsn", mysql_dsn)
        assert result.code == 2
        assert "9999_from_the_future" in result.err and "upgrade the pgtask package" in result.err


def test_pgtask_dsn_environment_variable_is_used(run_cli, mysql_dsn, monkeypatch):
    monkeypatch.setenv("PGTASK_DSN", mysql_dsn)
    result = run_cli("stats")
    assert result.code == 0 and "no tasks" in result.out
