"""Can a worker serve this MySQL/MariaDB database? Checked once, before the worker starts.

PyMySQL is synchronous, so the check runs in a thread (the MySQL store runs every call in
threads too); it connects directly rather than through the store, whose open() drops the
server's reason when its connection is refused.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pymysql
from pymysql.connections import Connection
from pymysql.cursors import DictCursor

from pgtask.config import redact_dsn
from pgtask.errors import ConfigError
from pgtask.retry import reconnect_delay
from pgtask.store.mysql.connect import connect_params
from pgtask.store.mysql.errors import error_code, reason, translated
from pgtask.store.mysql.schema import revision
from pgtask.store.postgres.schema import check_revision

# Can't connect (TCP or socket), lost during the handshake, too many connections (server-
# wide or for this user): worth a retry until the timeout. Anything else is final.
TRANSIENT = {2002, 2003, 2013, 1040, 1203}
# MariaDB's per-statement limit, in seconds (MySQL has none that covers a claim's writes).
STATEMENT_LIMIT = "SHOW VARIABLES LIKE 'max_statement_time'"
MIN_STATEMENT_TIME = 1.0  # seconds: as on Postgres (store/postgres/preflight.py says why)
QUERY_TIMEOUT = 10  # seconds for the checks once connected


async def check(dsn: str, timeout: float) -> None:
    """ConfigError/SchemaError (one line, says how to fix it) unless a worker can serve `dsn`."""
    await asyncio.to_thread(_check, dsn, timeout)


def _check(dsn: str, timeout: float) -> None:
    conn = _connect(dsn, timeout)
    try:
        with translated():
            found = revision(conn)
            with conn.cursor(DictCursor) as cur:
                cur.execute(STATEMENT_LIMIT)
                limit = cur.fetchone()
    finally:
        conn.close()
    check_revision(found, dsn)
    seconds = float(limit["Value"]) if limit else 0.0
    if 0 < seconds < MIN_STATEMENT_TIME:
        raise ConfigError(
            f"max_statement_time is {seconds:g}s on {redact_dsn(dsn)}: the server would stop "
            "the worker's claims, so it could finish nothing; make it 0 (no limit) or at "
            "least 1, e.g. run `SET GLOBAL max_statement_time = 0` (and in the server's "
            "configuration), or `ALTER USER ... WITH MAX_STATEMENT_TIME 0`")


def _connect(dsn: str, timeout: float) -> Connection[Any]:
    params = connect_params(dsn)
    until = time.monotonic() + timeout
    attempt = 0
    while True:
        left = until - time.monotonic()
        try:
            return pymysql.connect(**params, autocommit=True,
                                   connect_timeout=max(1, min(10, int(left))),
                                   read_timeout=QUERY_TIMEOUT, write_timeout=QUERY_TIMEOUT)
        except pymysql.err.MySQLError as exc:
            why, code = reason(exc), error_code(exc)
        delay = reconnect_delay(attempt, base=0.25, cap=2.0)
        attempt += 1
        if code not in TRANSIENT:
            raise ConfigError(f"cannot connect to {redact_dsn(dsn)}: {why}")
        if time.monotonic() + delay >= until:
            raise ConfigError(f"cannot connect to {redact_dsn(dsn)} within {timeout:g}s: {why}")
        time.sleep(delay)
