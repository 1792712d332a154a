"""Where the database is, and how to say so without leaking a password."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from pgtask.errors import ConfigError
from pgtask.models import Backend

DSN_ENV = "PGTASK_DSN"

_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_UNPARSED_PASSWORD = re.compile(r"^([^:/?#]+://[^:/?#@]*):.*@")
# In a URL's query string: ?password=... or &sslpassword=..., up to the next & or #.
_QUERY_PASSWORD = re.compile(r"([?&][^=&#]*password=)[^&#]*", re.IGNORECASE)


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced by '***', for logs and error messages.

    A URL is edited in place rather than re-assembled, so the rest of it reads exactly as
    given (urlunsplit would turn "postgresql:///db" into "postgresql:/db").
    """
    if "://" not in dsn:
        return _KEYWORD_PASSWORD.sub(r"\1***", dsn)
    netloc = urlsplit(dsn).netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        dsn = dsn.replace(netloc, f"{userinfo.split(':', 1)[0]}:***@{hostport}", 1)
    elif not at and "@" in dsn:
        # A password with an unescaped / ? or # cuts the netloc short; hide everything up to
        # the last "@" rather than show part of it.
        dsn = _UNPARSED_PASSWORD.sub(r"\1:***@", dsn, count=1)
    return _QUERY_PASSWORD.sub(r"\1***", dsn)


def backend_of(dsn: str) -> Backend:
    """Backend.POSTGRES or Backend.MYSQL, from the DSN's scheme (a keyword DSN is Postgres)."""
    scheme = dsn.split("://", 1)[0].lower() if "://" in dsn else "postgresql"
    if scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+"):
        return Backend.POSTGRES
    if scheme in ("mysql", "mariadb") or scheme.startswith("mysql+"):
        return Backend.MYSQL
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
    from pgtask.embedded import embedded_dsn

    return embedded_dsn()
