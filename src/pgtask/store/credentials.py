"""The secrets inside a DSN, for the worker's scrubber (worker/scrub.py): the password of a
URL or of a key=value string, in whatever form the DSN's driver reads it."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from pgtask.config import backend_of
from pgtask.models import Backend

# The environment variables the drivers take a password from when the DSN has none.
PASSWORD_ENV = ("PGPASSWORD", "MYSQL_PWD")


def _postgres_password(dsn: str) -> str | None:
    import psycopg  # here, not at the top: `import pgtask` stays free of any driver

    try:
        value = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.Error:  # a DSN libpq cannot parse holds nothing it would send
        return None
    return None if value is None else str(value)


def _url_password(dsn: str) -> str | None:
    try:
        parts = urlsplit(dsn)
        password = parts.password
    except ValueError:
        return None
    if password is not None:
        return unquote(password)
    given = parse_qs(parts.query).get("password")
    return given[0] if given else None


def dsn_secrets(dsn: str, env: Mapping[str, str]) -> list[str]:
    """The password `dsn` carries (URL or key=value form) and those the environment gives
    the drivers; empty values left out."""
    password = _url_password(dsn) if backend_of(dsn) == Backend.MYSQL else _postgres_password(dsn)
    found = [password] if password else []
    found += [env[name] for name in PASSWORD_ENV if env.get(name)]
    return found
