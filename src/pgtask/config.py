"""Where the database is, and how to say so without leaking a password."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError

DSN_ENV = "PGTASK_DSN"

_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced by '***', for logs and error messages."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.password is not None:
            host = parts.hostname or ""
            if parts.port:
                host = f"{host}:{parts.port}"
            netloc = f"{parts.username or ''}:***@{host}"
            parts = parts._replace(netloc=netloc)
        query = _KEYWORD_PASSWORD.sub(r"\1***", parts.query.replace("&", " ")).replace(" ", "&")
        return urlunsplit(parts._replace(query=query))
    return _KEYWORD_PASSWORD.sub(r"\1***", dsn)


def backend_of(dsn: str) -> str:
    """'postgres' or 'mysql', from the DSN's scheme (a keyword DSN is Postgres)."""
    scheme = dsn.split("://", 1)[0].lower() if "://" in dsn else "postgresql"
    if scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+"):
        return "postgres"
    if scheme in ("mysql", "mariadb") or scheme.startswith("mysql+"):
        return "mysql"
    raise ConfigError(
        f"unsupported database URL scheme {scheme!r} in {redact_dsn(dsn)}: "
        "use postgresql://user@host/db or mysql://user:pass@host/db"
    )


def resolve_dsn(dsn: str | None, *, embedded_ok: bool = True) -> str:
    """The DSN to use: the given one, else $PGTASK_DSN, else the embedded Postgres."""
    chosen = dsn or os.environ.get(DSN_ENV) or None
    if chosen:
        backend_of(chosen)  # refuse an unknown scheme now, not deep in a driver
        return chosen
    if not embedded_ok:
        raise ConfigError(f"no database given: pass --dsn or set {DSN_ENV}")
    from .embedded import embedded_dsn

    return embedded_dsn()
