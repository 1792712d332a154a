"""Batch finishing, logs, and pruning of history with its keys and logs."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from .helpers import (
    SECOND,
    claim,
    complete,
    count,
    db_now,
    enqueue,
    enqueue_many,
    finish,
    retry,
    task,
)

DAY = timedelta(days=1)


def append_log(db, task_id: int, at, message: str) -> None:
    db.execute("select pgtask.append_logs(%s, %s, %s, %s, %s)",
               ([task_id], [1], [at], ["info"], [message]))


def test_complete_tasks_finishes_only_the_held_ones(db):
    ids = enqueue_many(db, ["t"] * 3)
    rows = claim(db)
    tokens = [r["lease_token"] for r in rows]
    tokens[1] = uuid.uuid4()  # not ours any more
    done = db.execute(
        "select * from pgtask.complete_tasks(%s, %s, %s) as id",
        ([r["id"] for r in rows], tokens, [Jsonb({"n": i}) for i in range(3)]),
    ).fetchall()
    assert sorted(r["id"] for r in done) == sorted([rows[0]["id"], rows[2]["id"]])
    assert task(db, rows[2]["id"])["result"] == {"n": 2}
    assert task(db, rows[1]["id"])["state"] == "running"
    assert set(ids) == {r["id"] for r in rows}


def test_fail_tasks_mixes_retries_and_permanent_failures(db):
    enqueue_many(db, ["t"] * 3)
    rows = claim(db)
    now = db_now(db)
    ids = [r["id"] for r in rows]
    failed = db.execute(
        "select * from pgtask.fail_tasks(%s, %s, %s, %s::interval[], %s, %s) as id",
        (ids, [r["lease_token"] for r in rows], ["a", "b", "c"],
         [None, "5 minutes", None], [False, False, True], now),
    ).fetchall()
    assert sorted(r["id"] for r in failed) == sorted(ids)
    first, second, third = (task(db, i) for i in ids)
    assert (first["state"], second["state"], third["state"]) == ("queued", "queued", "dead")
    assert second["run_at"] == now + timedelta(minutes=5)
    assert first["run_at"] < now + timedelta(minutes=5)
    assert [third["message"], first["errors"][-1]["error"]] == ["c", "a"]


def test_finish_tasks_reports_each_new_state(db):
    enqueue_many(db, ["t"] * 5, max_attempts=[5, 5, 1, 5, 5])
    rows = claim(db)
    outcomes = ["succeeded", "failed", "failed", "snoozed", "released"]
    states = finish(db, [r["id"] for r in rows], [r["lease_token"] for r in rows], outcomes)
    assert [states[r["id"]] for r in rows] == ["succeeded", "queued", "dead", "queued", "queued"]
    assert count(db, "tasks") == 3 and count(db, "task_history") == 2


def test_finish_tasks_takes_the_first_outcome_of_a_task_named_twice(db):
    enqueue_many(db, ["t"] * 2)
    first, second = claim(db)
    ids = [first["id"], first["id"], second["id"]]
    tokens = [first["lease_token"], first["lease_token"], second["lease_token"]]
    states = finish(db, ids, tokens, ["failed", "succeeded", "succeeded"])
    assert states == {first["id"]: "queued", second["id"]: "succeeded"}
    assert count(db, "task_history") == 1


@pytest.mark.parametrize(("outcomes", "tokens", "message"), [
    (["exploded"], 1, "outcomes must be succeeded, failed, dead, snoozed, released or cancelled"),
    ([None], 1, "outcomes must be"),
    (["succeeded"], 2, "finish_tasks arrays must all have 1 elements"),
])
def test_finish_tasks_refuses_bad_arguments(db, outcomes, tokens, message):
    task_id = enqueue(db)
    [row] = claim(db)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
        finish(db, [task_id], [row["lease_token"]] * tokens, outcomes)
    assert task(db, task_id)["state"] == "running"


def test_append_logs_keeps_lines_with_the_task(db):
    task_id = enqueue(db)
    now = db_now(db)
    db.execute("select pgtask.append_logs(%s, %s, %s, %s, %s)",
               ([task_id, task_id], [1, 1], [now, now + SECOND], ["info", "error"], ["a", "b"]))
    lines = db.execute("select level, message from pgtask.task_logs where task_id = %s"
                       " order by at", (task_id,)).fetchall()
    assert [(r["level"], r["message"]) for r in lines] == [("info", "a"), ("error", "b")]


def finished_at(db, when, key: str) -> int:
    """A task with an idempotency key and a log line, finished at `when`."""
    task_id = enqueue(db, key=key)
    [row] = claim(db, batch=1)
    assert row["id"] == task_id
    append_log(db, task_id, when, f"log of {key}")
    assert complete(db, task_id, row["lease_token"], now=when)
    return task_id


def test_prune_forgets_old_history_keys_and_logs(db):
    now = db_now(db)
    old = finished_at(db, now - 8 * DAY, "old")
    recent = finished_at(db, now - 6 * DAY, "recent")
    unfinished = enqueue(db, key="unfinished")
    append_log(db, unfinished, now, "still running")
    assert db.execute("select pgtask.prune('7 days', %s) as n", (now,)).fetchone()["n"] == 1
    assert task(db, old) is None and task(db, recent)["state"] == "succeeded"
    keys = {r["key"] for r in db.execute("select key from pgtask.idempotency_keys").fetchall()}
    assert keys == {"recent", "unfinished"}
    logged = {r["task_id"] for r in db.execute("select task_id from pgtask.task_logs").fetchall()}
    assert logged == {recent, unfinished}
    # The pruned key is free again: it names a new task now.
    assert enqueue(db, key="old") not in (old, recent, unfinished)
    assert enqueue(db, key="recent") == recent


def test_prune_with_the_default_retention(db):
    now = db_now(db)
    finished_at(db, now - 8 * DAY, "a")
    finished_at(db, now - 1 * DAY, "b")
    assert db.execute("select pgtask.prune() as n").fetchone()["n"] == 1
    assert count(db, "task_history") == 1


def test_prune_keeps_a_key_that_names_a_newer_task(db):
    """A retried task is unfinished again: prune leaves it, and its key, alone."""
    now = db_now(db)
    task_id = enqueue(db, key="k", max_attempts=1)
    [row] = claim(db)
    db.execute("select pgtask.fail_task(%s, %s, 'x', null, true, %s)",
               (task_id, row["lease_token"], now - 8 * DAY))
    retry(db, task_id)
    assert db.execute("select pgtask.prune('7 days', %s) as n", (now,)).fetchone()["n"] == 0
    assert enqueue(db, key="k") == task_id
