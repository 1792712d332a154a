"""pgtask.resources: sql/ and alembic/ are found beside the code."""

from __future__ import annotations

import pytest

from pgtask.resources import read_sql, resource_dir


def test_sql_directory_holds_the_schema_and_its_frozen_copy():
    sql_dir = resource_dir("sql")
    assert (sql_dir / "postgres" / "pgtask.sql").is_file()
    assert (sql_dir / "postgres" / "roles.sql").is_file()
    assert (sql_dir / "postgres" / "migrations" / "0001_initial.sql").is_file()


def test_alembic_directory_holds_env_and_revisions():
    alembic_dir = resource_dir("alembic")
    assert (alembic_dir / "env.py").is_file()
    assert list((alembic_dir / "versions").glob("0001_*.py"))


def test_read_sql_returns_the_file_text():
    text = read_sql("postgres/pgtask.sql")
    assert text.startswith("-- pgtask")
    assert "create schema if not exists pgtask;" in text


def test_missing_resource_directory_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="cannot find its nosuch/ directory"):
        resource_dir("nosuch")


def test_missing_sql_file_is_a_file_not_found():
    with pytest.raises(FileNotFoundError):
        read_sql("postgres/nosuch.sql")
