"""A PostgreSQL server of a test's own: its own data directory, port and socket directory.

Fault tests stop, restart, freeze or reconfigure Postgres. Done to the shared server at
127.0.0.1:5432 that would break every other connection to it -- a developer's own work, or
other tests running beside this one -- so they do it to one of these instead.

Postgres refuses to run as root. Run as root (as CI and the dev machines do), the server's
commands run as the `postgres` OS user that Debian's packages create; run as anyone else,
they run as that user. The binaries come from $PGTASK_TEST_PG_BINDIR, else `pg_config
--bindir`, else the newest /usr/lib/postgresql/*/bin, else initdb on the PATH.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

BINDIR_ENV = "PGTASK_TEST_PG_BINDIR"
PREFIX = "pgtask-pg-"
OWNER_FILE = "owner.pid"  # the test process that made the server: gone means abandoned
START_ATTEMPTS = 3  # a free port can be taken between choosing it and binding it
# Settings for a throwaway server: no fsync (nothing here must survive a power cut; a
# crash of the server itself is still recovered from the WAL), one listen address.
SETTINGS = """\
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
fsync = off
max_connections = 100
log_min_messages = warning
"""


class Unavailable(Exception):
    """This machine cannot run a private server (no binaries, or no non-root user)."""


def _version(bindir: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in bindir.parent.name.split("."))
    except ValueError:
        return (0,)


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    candidates: list[Path] = []
    if os.environ.get(BINDIR_ENV):
        candidates.append(Path(os.environ[BINDIR_ENV]))
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _server_user() -> dict[str, Any]:
    """subprocess arguments that run the server's commands as a user Postgres accepts."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise Unavailable("running as root and there is no 'postgres' OS user to run "
                          "a private server as") from None
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateServer:
    """One throwaway cluster. Use `private_server()`; it initialises, starts and removes it."""

    host = "127.0.0.1"
    user = "postgres"

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "sock"
        self.log = root / "server.log"
        self.port = 0
        self._as_owner = _server_user()

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def _run(self, tool: str, *args: str, timeout: float = 120,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root),
               "LC_ALL": "C", "TZ": os.environ.get("TZ", "UTC")}
        done = subprocess.run([str(self.bindir / tool), *args], capture_output=True, text=True,
                              env=env, cwd=self.root, timeout=timeout, **self._as_owner)
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} exited {done.returncode}:\n"
                               f"{done.stdout}{done.stderr}\n{self.log_tail()}")
        return done

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return "server log:\n" + self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def initdb(self) -> None:
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self.socket_dir.mkdir()
        if self._as_owner:
            for path in (self.root, self.socket_dir):
                os.chown(path, self._as_owner["user"], self._as_owner["group"])
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust",
                  "--encoding=UTF8", "--no-locale", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("include_if_exists = 'private.conf'\n")

    def _configure(self, port: int) -> None:
        self.port = port
        settings = SETTINGS.format(port=port, socket_dir=self.socket_dir)
        (self.data / "private.conf").write_text(settings)  # root writes; postgres only reads

    def start(self) -> None:
        """Start on a free port (kept across restarts); raises with the log if it cannot."""
        for attempt in range(START_ATTEMPTS):
            if not self.port or attempt:
                self._configure(_free_port())
            done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                             "-t", "120", "start", check=False)
            if done.returncode == 0:
                return
            if "Address already in use" not in self.log_tail():
                break
        raise RuntimeError(f"private Postgres did not start:\n{done.stdout}{done.stderr}\n"
                           f"{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop: mode fast (roll back, disconnect), smart or immediate (a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "120", "stop")

    def restart(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", mode, "-w",
                  "-t", "120", "restart")

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def remove(self) -> None:
        """Stop the server if it runs (immediate: nothing in it is kept) and delete it."""
        if self.data.exists() and self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop",
                      check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_abandoned(bindir: Path) -> None:
    """Stop and delete private servers whose test process died without cleaning up (a
    SIGKILLed pytest skips teardown); those of live processes are left alone."""
    for root in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being set up
        if not _alive(owner):
            PrivateServer(bindir, root).remove()


def new_private_server() -> PrivateServer:
    """Initialise and start a private server; the caller must `remove()` it.

    Raises Unavailable when this machine has no binaries or no user to run them as."""
    bindir = find_bindir()
    if bindir is None:
        raise Unavailable(f"no PostgreSQL server binaries (initdb, pg_ctl) found; install "
                          f"the postgresql package or set {BINDIR_ENV}")
    sweep_abandoned(bindir)
    # Not pytest's tmp_path: that lies under a root-only directory the postgres user
    # cannot enter. mkdtemp's directory is private to whoever it is handed to.
    server = PrivateServer(bindir, Path(tempfile.mkdtemp(prefix=PREFIX)))
    try:
        server.initdb()
        server.start()
    except BaseException:
        server.remove()
        raise
    return server
