"""Is this database ready for this pgtask? Connect, then compare schema revisions.

Every command that reads or changes tasks (the CLI, the worker, the web app) opens its
connection through `connect_checked` so that a wrong DSN, an unmigrated database and a
schema written by a newer pgtask each fail with a message that says what to do.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

from pgtask.config import redact_dsn
from pgtask.errors import ConfigError, SchemaError
from pgtask.store.postgres.errors import translated

HAS_VERSION_TABLE = "select to_regclass('pgtask.alembic_version') is not null as present"
VERSION = "select version_num from pgtask.alembic_version limit 1"

Connection = psycopg.Connection[DictRow]  # an operator's: rows as dicts


def schema_status(found: str | None, head: str, known: set[str]) -> str:
    """'ok', 'unmigrated', 'older' or 'newer': where revision `found` stands against `head`.

    `known` is every revision this package ships; one outside it was written by a newer
    pgtask (revisions only ever get added).
    """
    if found is None:
        return "unmigrated"
    if found == head:
        return "ok"
    return "older" if found in known else "newer"


def check_revision(found: str | None, dsn: str) -> None:
    """Raise SchemaError unless revision `found` is the one this package expects."""
    from alembic.script import ScriptDirectory

    from pgtask.store.migrate import alembic_config, head_revision

    head = head_revision()
    known = {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    status = schema_status(found, head, known)
    where = redact_dsn(dsn)
    if status == "unmigrated":
        raise SchemaError(f"{where} has no pgtask schema: run `pgtask migrate` first")
    if status == "older":
        raise SchemaError(
            f"{where} is at schema revision {found}, this pgtask needs {head}: run `pgtask migrate`"
        )
    if status == "newer":
        raise SchemaError(
            f"{where} is at schema revision {found}, written by a newer pgtask than this one "
            f"(which knows up to {head}): upgrade the pgtask package"
        )


def connect(dsn: str, *, autocommit: bool = True, timeout: float = 10) -> Connection:
    """A dict-row connection, or ConfigError naming the (redacted) DSN and the reason."""
    try:
        return psycopg.Connection.connect(dsn, autocommit=autocommit,
                                          connect_timeout=int(timeout), row_factory=dict_row)
    except psycopg.Error as exc:
        text = str(exc).strip()
        reason = text.splitlines()[-1] if text else type(exc).__name__
        raise ConfigError(f"cannot connect to {redact_dsn(dsn)}: {reason}") from None


def revision(conn: psycopg.Connection[Any]) -> str | None:
    """The schema revision the database is at; None when pgtask was never migrated there."""
    with conn.cursor(row_factory=dict_row) as cur:
        present = cur.execute(HAS_VERSION_TABLE).fetchone()
        if not (present and present["present"]):
            return None
        row = cur.execute(VERSION).fetchone()
    return str(row["version_num"]) if row else None


def connect_checked(dsn: str, *, autocommit: bool = True) -> Connection:
    """connect(), then refuse a database whose schema is not this package's revision."""
    conn = connect(dsn, autocommit=autocommit)
    try:
        with translated():
            found = revision(conn)
        check_revision(found, dsn)
        if not autocommit:
            conn.rollback()
    except BaseException:
        conn.close()
        raise
    return conn
