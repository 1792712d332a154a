"""Helpers for the operations tests: run the real CLI entry point, seed tasks in states."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass

import psycopg
import pytest

from pgtask.cli import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """run_cli(*args, stdin="") -> CliResult, through pgtask.cli.main (exit codes included)."""

    def run(*args: str, stdin: str = "") -> CliResult:
        monkeypatch.setattr(sys, "argv", ["pgtask", *args])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        monkeypatch.setenv("COLUMNS", "200")
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def enqueue(db: psycopg.Connection, queue: str = "default", task_type: str = "t.x",
            run_at=None) -> int:
    return db.execute("select pgtask.enqueue_task(%s, '{}', %s, %s) as id",
                      (task_type, queue, run_at)).fetchone()["id"]


def claim(db: psycopg.Connection, queue: str, worker: str = "w1", now=None) -> dict:
    return db.execute("select * from pgtask.claim_task(array[%s], %s, 1, now => %s)",
                      (queue, worker, now)).fetchone()


def make(db: psycopg.Connection, state: str, queue: str = "default", task_type: str = "t.x") -> int:
    """A task in `state` (queued, running, succeeded, dead or cancelled) in `queue`."""
    if state in ("queued", "cancelled"):
        task_id = enqueue(db, queue, task_type)
    else:  # top priority, so that the claim below takes this task and no other
        task_id = db.execute("select pgtask.enqueue_task(%s, '{}', %s, priority => 1000) as id",
                             (task_type, queue)).fetchone()["id"]
    if state == "cancelled":
        db.execute("select pgtask.cancel_task(%s)", (task_id,))
    elif state != "queued":
        row = db.execute("select * from pgtask.claim_task(null, 'w1', 1) where id = %s",
                         (task_id,)).fetchone()
        assert row, "the seeded task should be the only one claimable"
        if state == "succeeded":
            db.execute("select pgtask.complete_task(%s, %s)", (task_id, row["lease_token"]))
        elif state == "dead":
            db.execute("select pgtask.fail_task(%s, %s, 'boom', permanent => true)",
                       (task_id, row["lease_token"]))
    return task_id


def states_by_id(db: psycopg.Connection) -> dict[int, tuple[str, str]]:
    rows = db.execute("select id, queue, state::text as state from pgtask.all_tasks").fetchall()
    return {r["id"]: (r["queue"], r["state"]) for r in rows}
