"""Shared by the taskmaster tests: drive tasks through claim/complete/fail in SQL."""

from __future__ import annotations

import json

import psycopg


def run_task(db: psycopg.Connection, task_id: int, *, result=None, error: str | None = None,
             dead: bool = False, worker: str = "w1") -> None:
    """Claim exactly this task and finish it: succeed with `result`, or fail (for good if
    `dead`)."""
    row = db.execute("select t.id, t.lease_token from pgtask.claim_task(null, %s, 1) t",
                     (worker,)).fetchone()
    row = dict(row) if not isinstance(row, dict) else row
    assert row["id"] == task_id, f"claimed {row['id']}, expected {task_id}"
    if error is None:
        ok = db.execute("select pgtask.complete_task(%s, %s, %s::jsonb) as ok",
                        (task_id, row["lease_token"], json.dumps(result))).fetchone()
    else:
        ok = db.execute("select pgtask.fail_task(%s, %s, %s, permanent => %s) as ok",
                        (task_id, row["lease_token"], error, dead)).fetchone()
    assert (ok["ok"] if isinstance(ok, dict) else ok[0]) is True


def scalar(db: psycopg.Connection, query: str, params=()):
    row = db.execute(query, params).fetchone()
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
