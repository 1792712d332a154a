"""Is this database ready for this pgtask? Connect, then compare schema revisions.

Every command that reads or changes tasks (the CLI, the worker, the web app) opens its
connection through `connect_checked` so that a wrong DSN, an unmigrated database and a
schema written by a newer pgtask each fail with a message that says what to do.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

from pgtask.config import redact_dsn
from pgtask.errors import ConfigError, SchemaError
from pgtask.store.postgres import decode
from pgtask.store.postgres.errors import translated

HAS_VERSION_TABLE = "select to_regclass('pgtask.alembic_version') is not null as present"
VERSION = "select version_num from pgtask.alembic_version limit 1"

Connection = psycopg.Connection[DictRow]  # an operator's: rows as dicts

_PASSWORD = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def connect_reason(exc: BaseException, dsn: str) -> str:
    """Why a connection failed, in the server's (or libpq's) own words, on one line.

    libpq's text is "connection to server at ... failed: FATAL:  <reason>", sometimes with a
    hint on a second line ("Is the server running ...?"): keep it all, joined, so that the
    reason itself ("Connection refused", "remaining connection slots are reserved ...",
    "password authentication failed ...") always survives. A malformed DSN is quoted back by
    libpq ('missing "=" after "..."'), so any password in it is masked.
    """
    text = str(exc).strip() or type(exc).__name__
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    reason = "; ".join(lines).removeprefix("connection failed: ")
    for secret in _passwords(dsn):
        if len(secret) < 3 and secret in reason:  # masking it would mangle ordinary words
            return "the connection string is malformed (libpq's message quotes its password)"
        reason = reason.replace(secret, "***")
    return reason


def _passwords(dsn: str) -> list[str]:
    from urllib.parse import unquote, urlsplit

    found = [m.group(1).strip("'") for m in _PASSWORD.finditer(dsn)]
    if "://" in dsn:
        try:
            password = urlsplit(dsn).password
        except ValueError:
            password = None
        if password:
            found += [password, unquote(password)]
    return sorted({p for p in found if p}, key=len, reverse=True)  # longest first


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
    from pgtask.store.migrate import head_revision, known_revisions

    head = head_revision()
    status = schema_status(found, head, known_revisions())
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
        conn = psycopg.Connection.connect(dsn, autocommit=autocommit,
                                          connect_timeout=int(timeout), row_factory=dict_row)
    except psycopg.Error as exc:
        reason = connect_reason(exc, dsn)
        raise ConfigError(f"cannot connect to {redact_dsn(dsn)}: {reason}") from None
    decode.register(conn)  # no stored value can fail a fetch (decode.py)
    return conn


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
