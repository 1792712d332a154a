"""Start `pgtask worker` subprocesses for tests that need to signal or kill them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from .chaos import SETUP

ROOT = Path(__file__).resolve().parents[2]


def prepare_chaos(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SETUP)


def prepare_chaos_queue(dsn: str) -> None:
    """The chaos run log, and fast retries on the default queue (a migrated database)."""
    prepare_chaos(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into pgtask.queues (name, min_backoff, max_backoff, backoff_jitter) "
                     "values ('default', '10 ms', '50 ms', 0)")


class WorkerProcess:
    """A worker subprocess running the chaos handlers; its log goes to a temp file."""

    def __init__(self, dsn: str, *args: str, env: dict[str, str] | None = None) -> None:
        # Kept open for the process's life and closed by stop(): no `with` fits.
        self.log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="pgtask-worker-", suffix=".log", delete=False)
        # src first: a checkout of another commit runs its own pgtask, not the editable one
        full_env = {**os.environ, "CHAOS_DSN": dsn,
                    "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pgtask", "worker", "--dsn", dsn,
             "--handlers", "tests.support.chaos", *args],
            stdout=self.log_file, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def log(self) -> str:
        return Path(self.log_file.name).read_text(errors="replace")

    def stop(self) -> None:
        """Graceful first (a supervisor takes its children down with it), then forceful."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log_file.close()


def chaos_runs(conn: psycopg.Connection) -> dict[int, int]:
    """task id -> number of recorded runs (cancellation notes excluded)."""
    with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
        cur.execute("select task_id, count(*) from public.chaos_runs where attempt >= 0 "
                    "group by task_id")
        return dict(cur.fetchall())


def states(conn: psycopg.Connection) -> dict[str, int]:
    """state -> number of tasks, over unfinished and finished tasks."""
    with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
        cur.execute("select state::text, count(*) from pgtask.all_tasks group by 1")
        return dict(cur.fetchall())
