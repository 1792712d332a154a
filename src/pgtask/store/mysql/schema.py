"""Is this database ready for this pgtask, on MySQL/MariaDB? Connect for the operator
commands, then compare pgtask's schema revision (in pgtask_alembic_version) with this
package's (store/postgres/schema.py's check_revision says what to do when they differ)."""

from __future__ import annotations

from typing import Any

from pymysql.connections import Connection
from pymysql.constants import CLIENT
from pymysql.cursors import DictCursor

from pgtask.store.mysql.connect import CONVERSIONS
from pgtask.store.mysql.connect import connect as mysql_connect
from pgtask.store.mysql.errors import translated
from pgtask.store.postgres.schema import check_revision

HAS_VERSION_TABLE = """
SELECT COUNT(*) AS present FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'pgtask_alembic_version'
"""
VERSION = "SELECT version_num FROM pgtask_alembic_version LIMIT 1"


def connect(dsn: str, *, timeout: float = 10) -> Connection[Any]:
    """An autocommit dict-row connection, or ConfigError naming the (redacted) DSN.

    FOUND_ROWS: an UPDATE's row count is the rows it matched, so "pause a paused queue"
    still finds the queue.
    """
    return mysql_connect(dsn, autocommit=True, cursorclass=DictCursor, conv=CONVERSIONS,
                         client_flag=CLIENT.FOUND_ROWS, connect_timeout=int(timeout))


def revision(conn: Connection[Any]) -> str | None:
    """The schema revision the database is at; None when pgtask was never migrated there."""
    with conn.cursor(DictCursor) as cur:
        cur.execute(HAS_VERSION_TABLE)
        present = cur.fetchone()
        if not (present and present["present"]):
            return None
        cur.execute(VERSION)
        row = cur.fetchone()
    return str(row["version_num"]) if row else None


def connect_checked(dsn: str) -> Connection[Any]:
    """connect(), then refuse a database whose schema is not this package's revision."""
    conn = connect(dsn)
    try:
        with translated():
            found = revision(conn)
        check_revision(found, dsn)
    except BaseException:
        conn.close()
        raise
    return conn
