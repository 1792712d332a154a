"""Create or upgrade pgtask's schema with alembic, safely from many processes at once.

One alembic tree serves both backends: each revision runs its frozen .sql file for the
connection's dialect (sql/postgres/migrations/ or sql/mysql/migrations/). The version table
is pgtask's own on both: pgtask.alembic_version on Postgres, pgtask_alembic_version on MySQL
(no schemas inside a MySQL database), so an application's alembic history is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from alembic import command
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import NullPool

from pgtask.config import backend_of, redact_dsn
from pgtask.errors import ConfigError
from pgtask.models import Backend
from pgtask.resources import read_sql, resource_dir
from pgtask.store.locks import MIGRATION_LOCK_KEY

# MySQL: a named lock per database instead (lock names are server-wide, 64 characters at
# most); wait up to 600 s for another migrator.
MYSQL_LOCK = ("SELECT GET_LOCK(CONCAT('pgtask.migrate.', MD5(DATABASE())), 600)",
              "DO RELEASE_LOCK(CONCAT('pgtask.migrate.', MD5(DATABASE())))")
MIGRATION_DIRS = {"postgresql": "postgres/migrations", "mysql": "mysql/migrations"}
VERSION_TABLES = {
    "postgresql": {"version_table": "alembic_version", "version_table_schema": "pgtask"},
    "mysql": {"version_table": "pgtask_alembic_version"},
}


@dataclass(frozen=True, slots=True)
class MigrationReport:
    before: str | None
    after: str | None
    applied: tuple[str, ...]

    def describe(self) -> str:
        if not self.applied:
            return f"pgtask schema is up to date (revision {self.after})"
        steps = " -> ".join(self.applied)
        return f"pgtask schema migrated from {self.before or 'nothing'} to {self.after} ({steps})"


def execute_sql_file(op: Operations, name: str) -> None:
    """Run the frozen migration file `name` for this connection's dialect (called by revisions).

    Straight to the driver connection: no parameter parsing, so '%' and ':' in routine
    bodies are left alone. Postgres takes the whole file in the migration's transaction;
    MySQL takes it a statement at a time (its DDL commits as it goes anyway).
    """
    bind = op.get_bind()
    text = read_sql(f"{MIGRATION_DIRS[bind.dialect.name]}/{name}")
    driver = bind.connection.driver_connection
    assert driver is not None  # a live connection inside a migration
    if bind.dialect.name != "mysql":
        driver.execute(text)
        return
    from pgtask.store.mysql.sql import split_script

    with driver.cursor() as cur:
        for statement in split_script(text):
            cur.execute(statement)


def version_table_options(dialect: str) -> dict[str, str]:
    """Where alembic keeps pgtask's revision on this dialect (used by alembic/env.py)."""
    return VERSION_TABLES[dialect]


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resource_dir("alembic")))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # only a broken install ships no revision
        raise ConfigError("pgtask's alembic revisions are missing: reinstall pgtask")
    return head


def known_revisions() -> set[str]:
    """Every revision this package ships (one outside it was written by a newer pgtask)."""
    return {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def _refuse_newer(found: str | None, dsn: str) -> None:
    from pgtask.store.postgres.schema import check_revision, schema_status

    if schema_status(found, head_revision(), known_revisions()) == "newer":
        check_revision(found, dsn)  # raises SchemaError: upgrade the pgtask package


def _engine(dsn: str) -> Engine:
    if backend_of(dsn) == Backend.MYSQL:
        from pgtask.store.mysql.store import connect

        return create_engine("mysql+pymysql://", creator=lambda: connect(dsn), poolclass=NullPool)
    return create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=NullPool
    )


def current_revision(dsn: str) -> str | None:
    """The revision the database is at, or None when pgtask was never migrated there."""
    engine = _engine(dsn)
    try:
        with engine.connect() as conn:
            return _revision(conn)
    finally:
        engine.dispose()


def check_connection(dsn: str) -> None:
    """Fail early, with a readable message, when the database does not answer."""
    if backend_of(dsn) == Backend.MYSQL:
        from pgtask.store.mysql.store import connect

        connect(dsn, connect_timeout=10).close()  # raises ConfigError, password redacted
        return
    try:
        psycopg.connect(dsn, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        from pgtask.store.postgres.schema import connect_reason

        reason = connect_reason(exc, dsn)
        raise ConfigError(f"cannot connect to {redact_dsn(dsn)}: {reason}") from None


def _revision(conn: Connection) -> str | None:
    opts = version_table_options(conn.dialect.name)
    revision = MigrationContext.configure(conn, opts=opts).get_current_revision()
    conn.commit()
    return revision


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "mysql":
        if conn.exec_driver_sql(MYSQL_LOCK[0]).scalar() != 1:
            raise ConfigError("another `pgtask migrate` held the migration lock for 10 minutes")
    else:
        conn.exec_driver_sql("select pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.exec_driver_sql("create schema if not exists pgtask")
    conn.commit()


def _unlock(conn: Connection) -> None:
    if conn.dialect.name == "mysql":
        conn.exec_driver_sql(MYSQL_LOCK[1])
    else:
        conn.exec_driver_sql("select pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    conn.commit()


def migrate(dsn: str, target: str = "head") -> MigrationReport:
    """Bring the schema to `target`. Idempotent; concurrent callers wait on a lock."""
    check_connection(dsn)
    engine = _engine(dsn)
    try:
        with engine.connect() as conn:
            _lock(conn)
            try:
                before = _revision(conn)
                _refuse_newer(before, dsn)  # alembic would fail on it with a traceback
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, target)
                conn.commit()
                after = _revision(conn)
            finally:
                _unlock(conn)
    finally:
        engine.dispose()
    return MigrationReport(before, after, _steps(before, after))


def _steps(before: str | None, after: str | None) -> tuple[str, ...]:
    if before == after:
        return ()
    script = ScriptDirectory.from_config(alembic_config())
    revs = [r.revision for r in script.iterate_revisions(after, before)]
    return tuple(reversed(revs))
