"""`pgtask migrate` on MySQL/MariaDB: the same alembic tree, pgtask's own version table."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pymysql
import pytest

from pgtask.errors import ConfigError
from pgtask.store.migrate import current_revision, head_revision, migrate
from pgtask.store.mysql.store import connect

pytestmark = pytest.mark.mysql
PGTASK = Path(sys.executable).parent / "pgtask"
TABLES = {"pgtask_alembic_version", "pgtask_all_tasks", "pgtask_idempotency_keys", "pgtask_queues",
          "pgtask_task_history", "pgtask_task_logs", "pgtask_task_types", "pgtask_tasks",
          "pgtask_workers"}


def tables(dsn: str) -> set[str]:
    with connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        return {row[0] for row in cur.fetchall()}


def run_cli_migrate(dsn: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(PGTASK), "migrate", "--dsn", dsn], capture_output=True, text=True,
                          timeout=120)


def test_cli_migrate_creates_the_schema_and_is_idempotent(new_mysql_database):
    dsn = new_mysql_database(migrated=False)
    assert current_revision(dsn) is None
    first = run_cli_migrate(dsn)
    assert first.returncode == 0, first.stderr
    assert f"to {head_revision()}" in first.stdout
    assert tables(dsn) == TABLES
    assert current_revision(dsn) == head_revision()
    assert migrate(dsn).applied == ()  # up to date


def test_the_applications_own_alembic_table_is_left_alone(new_mysql_database):
    dsn = new_mysql_database(migrated=False)
    with connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        cur.execute("INSERT INTO alembic_version VALUES ('app_rev_42')")
    migrate(dsn)
    with connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT version_num FROM alembic_version")
        assert cur.fetchall() == (("app_rev_42",),)


def test_concurrent_migrations_wait_for_each_other(new_mysql_database):
    dsn = new_mysql_database(migrated=False)
    with ThreadPoolExecutor(4) as pool:  # each migrate() has its own connections
        reports = list(pool.map(migrate, [dsn] * 4))
    applied = sorted(len(r.applied) for r in reports)
    assert applied[:3] == [0, 0, 0] and applied[3] >= 1  # one migrator did all the work
    assert current_revision(dsn) == head_revision()


def test_the_schema_file_also_runs_through_the_mysql_client_way(new_mysql_database):
    """Running the file twice (as after an interrupted migration) is harmless."""
    dsn = new_mysql_database()
    from pgtask.resources import read_sql
    from pgtask.store.mysql.sql import split_script

    with connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        for statement in split_script(read_sql("mysql/pgtask.sql")):
            cur.execute(statement)
    assert tables(dsn) == TABLES


# Everything that defines the schema, read from information_schema; alembic's table aside.
CATALOG = {
    "columns": """SELECT TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE,
                         COLUMN_DEFAULT, EXTRA FROM information_schema.COLUMNS
                   WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'pgtask_alembic_version'""",
    "indexes": """SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE
                    FROM information_schema.STATISTICS
                   WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'pgtask_alembic_version'""",
    "checks": """SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
                  WHERE CONSTRAINT_SCHEMA = DATABASE()""",
    "routines": """SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION
                     FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()""",
    "views": """SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS
                 WHERE TABLE_SCHEMA = DATABASE()""",
}


def catalog(dsn: str) -> dict[str, list[tuple]]:
    with connect(dsn) as conn, conn.cursor() as cur:
        found = {}
        for part, query in CATALOG.items():
            cur.execute(query)
            # A view's text names its database: compare it without.
            rows = [tuple(str(v).replace(f"`{conn.db.decode()}`.", "") for v in row)
                    for row in cur.fetchall()]
            found[part] = sorted(rows)
        return found


def test_migrations_build_the_schema_file(new_mysql_database):
    """0001 + ... + head build exactly what sql/mysql/pgtask.sql builds."""
    from pgtask.resources import read_sql
    from pgtask.store.mysql.sql import split_script

    migrated, built = new_mysql_database(), new_mysql_database(migrated=False)
    with connect(built, autocommit=True) as conn, conn.cursor() as cur:
        for statement in split_script(read_sql("mysql/pgtask.sql")):
            cur.execute(statement)
    expected, actual = catalog(built), catalog(migrated)
    for part in CATALOG:
        assert actual[part] == expected[part], f"{part} differ"
    assert len(expected["routines"]) >= 1 and len(expected["columns"]) >= 40


def test_an_unreachable_server_is_a_clear_error_without_the_password():
    with pytest.raises(ConfigError) as info:
        migrate("mysql://root:hunter2@127.0.0.1:1/nope")
    assert "cannot connect to mysql://root:***@127.0.0.1:1/nope" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_check_constraints_guard_direct_writes(mysql_dsn):
    with connect(mysql_dsn, autocommit=True) as conn, conn.cursor() as cur:
        bad = [
            "INSERT INTO pgtask_tasks (task_type) VALUES ('Not.Valid')",
            "INSERT INTO pgtask_tasks (task_type, payload) VALUES ('ok', '[1]')",
            "INSERT INTO pgtask_tasks (task_type, state) VALUES ('ok', 'running')",
            "INSERT INTO pgtask_tasks (task_type, state) VALUES ('ok', 'succeeded')",
            "INSERT INTO pgtask_tasks (task_type, priority) VALUES ('ok', 1001)",
            "INSERT INTO pgtask_queues (name, lease) VALUES ('q', 0)",
            "INSERT INTO pgtask_queues (name, min_backoff, max_backoff) VALUES ('q', 10, 5)",
        ]
        for statement in bad:
            with pytest.raises(pymysql.err.OperationalError, match="CONSTRAINT"):
                cur.execute(statement)
