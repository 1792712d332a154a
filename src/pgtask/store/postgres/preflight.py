"""Can a worker serve this Postgres database? Checked once, before the worker starts.

Async psycopg on a connection of its own, not the pool: the worker is asyncio and this runs
inside Worker.run(), so no thread is needed; and a pool retries a refused connection in the
background, logging a warning each time and dropping the server's reason from the error it
finally raises. A direct connection fails with that reason at once.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import psycopg

from pgtask.config import redact_dsn
from pgtask.errors import ConfigError
from pgtask.retry import reconnect_delay
from pgtask.store.postgres.deadline import deadline
from pgtask.store.postgres.errors import translated
from pgtask.store.postgres.pool import network
from pgtask.store.postgres.schema import HAS_VERSION_TABLE, VERSION, check_revision, connect_reason

# The settings as the worker's role sees them on a fresh connection (role, database and
# connection options applied). pg_settings gives statement_timeout in milliseconds.
SETTINGS = """
select s.setting::bigint as timeout_ms, current_setting('statement_timeout') as timeout,
       s.source, current_user as role, current_database() as database,
       current_setting('transaction_read_only') = 'on' as read_only,
       pg_is_in_recovery() as standby
  from pg_settings s where s.name = 'statement_timeout'
"""
# A batch claim takes milliseconds, but a checkpoint or an autovacuum can stretch one past
# a few hundred: below a second, claims would be cancelled now and then or always.
MIN_STATEMENT_TIMEOUT_MS = 1000
# A server that is starting, stopping or full, or not there yet: worth a retry until the
# timeout. Anything else (a wrong password, a missing database or role) is final.
TRANSIENT = re.compile(r"connection refused|timeout expired|starting up|shutting down|"
                       r"recovery mode|not yet accepting|too many clients|connection slots|"
                       r"could not translate host|failed to resolve host|no route to host|"
                       r"network is unreachable|closed the connection unexpectedly",
                       re.IGNORECASE)
NO_TIMEOUT = "set statement_timeout = 0"
QUERY_DEADLINE = 10.0  # seconds for the two checks once connected


@dataclass(frozen=True, slots=True)
class Settings:
    timeout_ms: int
    timeout: str  # as Postgres shows it, e.g. '5ms'
    source: str  # pg_settings.source: 'database', 'user', 'database user', 'client', ...
    role: str
    database: str
    read_only: bool
    standby: bool


async def check(dsn: str, timeout: float) -> None:
    """ConfigError/SchemaError (one line, says how to fix it) unless a worker can serve `dsn`."""
    conn = await _connect(dsn, timeout)
    try:
        async with deadline(QUERY_DEADLINE):
            with translated():
                settings = await _settings(conn, dsn)
                await conn.execute(NO_TIMEOUT)  # this session's own checks must not be cut
                found = await _revision(conn)
    finally:
        await conn.close()
    check_revision(found, dsn)
    problem = settings_problem(settings, redact_dsn(dsn))
    if problem:
        raise ConfigError(problem)


async def _connect(dsn: str, timeout: float) -> psycopg.AsyncConnection[Any]:
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    attempt = 0
    while True:
        left = until - loop.time()
        try:
            # libpq rounds a connect_timeout below 2 s up to 2
            return await psycopg.AsyncConnection.connect(
                dsn, autocommit=True, **network(connect_timeout=max(2, min(10, int(left)))))
        except psycopg.Error as exc:
            reason = connect_reason(exc, dsn)
        delay = reconnect_delay(attempt, base=0.25, cap=2.0)
        attempt += 1
        if not TRANSIENT.search(reason):
            raise ConfigError(f"cannot connect to {redact_dsn(dsn)}: {reason}")
        if loop.time() + delay >= until:
            raise ConfigError(f"cannot connect to {redact_dsn(dsn)} within {timeout:g}s: "
                              f"{reason}")
        await asyncio.sleep(delay)


async def _revision(conn: psycopg.AsyncConnection[Any]) -> str | None:
    cur = await conn.execute(HAS_VERSION_TABLE)
    present = await cur.fetchone()
    if not (present and present[0]):
        return None
    row = await (await conn.execute(VERSION)).fetchone()
    return str(row[0]) if row else None


async def _settings(conn: psycopg.AsyncConnection[Any], dsn: str) -> Settings:
    try:
        row = await (await conn.execute(SETTINGS)).fetchone()
    except psycopg.errors.QueryCanceled:  # the timeout is shorter than this very query
        role = _ident(conn.info.user)
        raise ConfigError(
            f"statement_timeout on {redact_dsn(dsn)} is so short that the server cancelled "
            f"a one-row query: make it 0 (no limit) or at least 1s, e.g. run "
            f"`ALTER ROLE {role} SET statement_timeout = 0`") from None
    if row is None:  # pragma: no cover - statement_timeout is in every Postgres
        raise RuntimeError("pg_settings has no statement_timeout")
    return Settings(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]),
                    bool(row[5]), bool(row[6]))


def settings_problem(s: Settings, where: str) -> str | None:
    """Why a worker could make no progress with these settings (one line), or None."""
    if s.read_only:
        why = "it is a standby" if s.standby else "default_transaction_read_only is on"
        return (f"{where} is read-only ({why}): a worker must record claims and outcomes; "
                "point it at the primary" + ("" if s.standby else
                f", or run `ALTER ROLE {_ident(s.role)} SET default_transaction_read_only = off`"))
    if 0 < s.timeout_ms < MIN_STATEMENT_TIMEOUT_MS:
        return (f"statement_timeout is {s.timeout} for role {s.role} on {where} (set by "
                f"{_source(s.source)}): the server would cancel the worker's claims, so it "
                f"could finish nothing; make it 0 (no limit) or at least 1s: {_fix(s)}")
    return None


def _source(source: str) -> str:
    return {"database": "ALTER DATABASE", "user": "ALTER ROLE",
            "database user": "ALTER ROLE ... IN DATABASE",
            "client": "the connection's options"}.get(source, f"the server's {source}")


def _fix(s: Settings) -> str:
    role, database = _ident(s.role), _ident(s.database)
    if s.source == "client":
        return "drop `-c statement_timeout=...` from the DSN's options or $PGOPTIONS"
    if s.source == "database user":
        return f"run `ALTER ROLE {role} IN DATABASE {database} SET statement_timeout = 0`"
    if s.source == "database":
        return f"run `ALTER DATABASE {database} SET statement_timeout = 0`"
    # a role setting overrides the database's and the server's
    return f"run `ALTER ROLE {role} SET statement_timeout = 0`"


def _ident(name: str) -> str:
    """`name` as SQL would need it written (for a message to copy, never executed)."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'
