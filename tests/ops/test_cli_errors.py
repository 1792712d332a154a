"""Every command fails clearly, and non-zero, on a bad DSN or a schema it cannot use: an
unreachable server, an unmigrated database, a schema from a newer pgtask, on either backend."""

import pytest

from pgtask.store.postgres.schema import schema_status

COMMANDS = [("top", "--once"), ("top", "--json"), ("ls",), ("show", "1"), ("stats",),
            ("retry", "1"), ("cancel", "1"), ("queue", "ls"), ("queue", "pause", "x"),
            ("prune", "--yes"), ("unstick",)]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unreachable_database(run_cli, backend, command):
    result = run_cli(*command, "--dsn", backend.unreachable_dsn("s3cret-pw"))
    assert result.code == 2
    assert f"cannot connect to {backend.unreachable_dsn('***')}" in result.err
    assert "s3cret-pw" not in result.err + result.out


def test_malformed_dsn_and_env_var(run_cli, monkeypatch):
    bad = run_cli("ls", "--dsn", "host=127.0.0.1 password=hunter2 nonsense")
    assert bad.code == 2 and "cannot connect" in bad.err and "hunter2" not in bad.err
    monkeypatch.setenv("PGTASK_DSN", "mongodb://x/y")
    assert "unsupported database URL scheme 'mongodb'" in run_cli("stats").err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unmigrated_database(run_cli, backend, command):
    result = run_cli(*command, "--dsn", backend.unmigrated_dsn())
    assert result.code == 2 and "run `pgtask migrate`" in result.err


def test_schema_newer_than_the_package(run_cli, backend):
    backend.rows("update pgtask.alembic_version set version_num = '9999_from_the_future'")
    for command in (("top", "--once"), ("ls",), ("queue", "ls")):
        result = run_cli(*command, "--dsn", backend.dsn)
        assert result.code == 2
        assert "9999_from_the_future" in result.err and "upgrade the pgtask package" in result.err


def test_schema_status():
    known = {"0001", "0002"}
    assert schema_status(None, "0002", known) == "unmigrated"
    assert schema_status("0002", "0002", known) == "ok"
    assert schema_status("0001", "0002", known) == "older"
    assert schema_status("0003", "0002", known) == "newer"


def test_pgtask_dsn_environment_variable_is_used(run_cli, backend, monkeypatch):
    monkeypatch.setenv("PGTASK_DSN", backend.dsn)
    result = run_cli("stats")
    assert result.code == 0 and "no tasks" in result.out
