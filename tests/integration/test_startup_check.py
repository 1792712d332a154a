"""Item 8 (and 7's one-line refusals): every command passes one start-up check — migrated,
the same schema revision, which database — and refuses in one line with exit status 2."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import pgtask
from tests.support.waiting import wait_until
from tests.support.workers import ROOT

LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO) ")
SRC = Path(pgtask.__file__).resolve().parents[1]  # the pgtask under test (a pristine one too)


def pgtask_cli(*args: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT)]), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pgtask", *args], capture_output=True,
                          text=True, env=full, cwd=ROOT, timeout=timeout)


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2 and one line that says what to fix (besides a worker's timestamped log lines)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not LOG_LINE.match(line)]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("command", [["enqueue", "emails.send"], ["ls"], ["schedule", "ls"],
                                     ["worker", "--handlers", "tests.support.chaos"]])
def test_an_unmigrated_postgres_database_is_refused_in_one_line(empty_dsn, command):
    result = pgtask_cli(*command, "--dsn", empty_dsn)
    assert_one_line_refusal(result, "has no pgtask schema", "run `pgtask migrate` first")


@pytest.mark.parametrize(("revision", "says"), [
    ("0004", "this pgtask needs"), ("9999", "written by a newer pgtask")])
def test_a_database_at_another_schema_revision_is_refused(dsn, revision, says):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("update pgtask.alembic_version set version_num = %s", (revision,))
    result = pgtask_cli("enqueue", "emails.send", "--dsn", dsn)
    assert_one_line_refusal(result, f"schema revision {revision}", says)
    assert result.stdout == ""  # no task id: nothing was enqueued


@pytest.fixture
def no_dsn_env(tmp_path):
    """The environment of a new user: no PGTASK_DSN, no XDG_RUNTIME_DIR, a fresh pgtask home.
    The embedded server this starts is stopped afterwards, whatever the test did."""
    env = {k: v for k, v in os.environ.items() if k not in ("PGTASK_DSN", "XDG_RUNTIME_DIR")}
    env["PGTASK_HOME"] = str(tmp_path / "home")
    yield env
    pid_file = tmp_path / "home" / "pgdata" / "postmaster.pid"
    if pid_file.exists():
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)  # a fast shutdown
        wait_until(lambda: not pid_file.exists(), timeout=30, message="embedded server stopped")


def run_new_user(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "pgtask", *args], capture_output=True,
                            text=True, env={**env, "PYTHONPATH": os.pathsep.join(
                                [str(SRC), str(ROOT)])}, cwd=ROOT, timeout=300)
    assert "Warning" not in result.stderr  # no RuntimeDirWarning, nor any other
    return result


@pytest.mark.slow
def test_without_a_dsn_commands_say_once_they_use_the_embedded_database(no_dsn_env):
    pgdata = Path(no_dsn_env["PGTASK_HOME"]) / "pgdata"
    demo = run_new_user(no_dsn_env, "demo", "--tasks", "50")
    assert demo.returncode == 0, demo.stderr
    said = [line for line in demo.stderr.splitlines() if "embedded database at" in line]
    assert len(said) == 1 and str(pgdata) in said[0]
    # the demo ends by saying what it left running, and how to stop it
    assert "embedded Postgres server is still running" in demo.stdout
    assert "pgtask dsn --stop" in demo.stdout

    enqueued = run_new_user(no_dsn_env, "enqueue", "demo.ok")
    assert enqueued.returncode == 0, enqueued.stderr
    assert enqueued.stdout.strip().isdigit()  # stdout stays the task id alone
    assert enqueued.stderr.count("embedded database at") == 1
    assert len(enqueued.stderr.strip().splitlines()) == 1

    stopped = run_new_user(no_dsn_env, "dsn", "--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not (pgdata / "postmaster.pid").exists()
