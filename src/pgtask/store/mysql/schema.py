"""store.schema_check for MySQL/MariaDB: connect for the operator commands, then compare
pgtask's schema revision (in pgtask_alembic_version) with this package's."""

from __future__ import annotations

import pymysql
from pymysql.constants import CLIENT
from pymysql.cursors import DictCursor

from pgtask.store.mysql.store import CONVERSIONS
from pgtask.store.mysql.store import connect as mysql_connect
from pgtask.store.postgres.schema import check_revision

HAS_VERSION_TABLE = """
SELECT COUNT(*) AS present FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'pgtask_alembic_version'
"""
VERSION = "SELECT version_num FROM pgtask_alembic_version LIMIT 1"


def connect(dsn: str, *, timeout: float = 10) -> pymysql.connections.Connection:
    """An autocommit dict-row connection, or ConfigError naming the (redacted) DSN.

    FOUND_ROWS: an UPDATE's row count is the rows it matched, so "pause a paused queue"
    still finds the queue.
    """
    return mysql_connect(dsn, autocommit=True, cursorclass=DictCursor, conv=CONVERSIONS,
                         client_flag=CLIENT.FOUND_ROWS, connect_timeout=int(timeout))


def connect_checked(dsn: str) -> pymysql.connections.Connection:
    """connect(), then refuse a database whose schema is not this package's revision."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(HAS_VERSION_TABLE)
            found = None
            if cur.fetchone()["present"]:
                cur.execute(VERSION)
                row = cur.fetchone()
                found = row["version_num"] if row else None
        check_revision(found, dsn)
    except BaseException:
        conn.close()
        raise
    return conn
