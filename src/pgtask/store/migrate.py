"""Create or upgrade pgtask's schema with alembic, safely from many processes at once."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from ..config import redact_dsn
from ..errors import ConfigError
from ..resources import read_sql, resource_dir

# pg_advisory_lock key: the first 8 bytes of sha1("pgtask.migrate") as a signed bigint.
MIGRATION_LOCK_KEY = 0x5F8D1C0A2B4E6F71


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


def execute_sql_file(op, relative: str) -> None:
    """Run a whole .sql file inside the migration's transaction (called by revisions).

    Straight to the psycopg connection: no parameter parsing, so '%' and ':' in PL/pgSQL
    bodies are left alone.
    """
    op.get_bind().connection.driver_connection.execute(read_sql(relative))


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resource_dir("alembic")))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _engine(dsn: str):
    return create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=NullPool
    )


def current_revision(dsn: str) -> str | None:
    """The revision the database is at, or None when pgtask was never migrated there."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("select to_regclass('pgtask.alembic_version')").fetchone()[0]
        if exists is None:
            return None
        row = conn.execute("select version_num from pgtask.alembic_version").fetchone()
        return row[0] if row else None


def check_connection(dsn: str) -> None:
    """Fail early, with a readable message, when the database does not answer."""
    try:
        psycopg.connect(dsn, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot connect to {redact_dsn(dsn)}: {reason}") from None


def migrate(dsn: str, target: str = "head") -> MigrationReport:
    """Bring the schema to `target`. Idempotent; concurrent callers wait on an advisory lock."""
    check_connection(dsn)
    engine = _engine(dsn)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("select pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
            try:
                conn.exec_driver_sql("create schema if not exists pgtask")
                conn.commit()
                before = MigrationContext.configure(
                    conn, opts={"version_table_schema": "pgtask"}
                ).get_current_revision()
                conn.commit()
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, target)
                conn.commit()
                after = MigrationContext.configure(
                    conn, opts={"version_table_schema": "pgtask"}
                ).get_current_revision()
                conn.commit()
            finally:
                conn.exec_driver_sql("select pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
                conn.commit()
    finally:
        engine.dispose()
    return MigrationReport(before, after, _steps(before, after))


def _steps(before: str | None, after: str | None) -> tuple[str, ...]:
    if before == after:
        return ()
    script = ScriptDirectory.from_config(alembic_config())
    revs = [r.revision for r in script.iterate_revisions(after, before)]
    return tuple(reversed(revs))
