"""The state machine: every legal transition, and the refusal of the illegal ones."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from pgtask.models import TaskState

from .helpers import (
    SECOND,
    cancel,
    claim,
    complete,
    db_now,
    enqueue,
    fail,
    finish,
    heartbeat,
    hot_row,
    retry,
    task,
)


def claim_one(db, **kw) -> dict:
    [row] = claim(db, batch=1, **kw)
    return row


def test_queued_running_succeeded(db):
    task_id = enqueue(db, "emails.send", {"to": "a@b.c"})
    assert task(db, task_id)["state"] == "queued"
    row = claim_one(db)
    assert (row["id"], row["state"], row["attempt"], row["worker_id"]) == (
        task_id, "running", 1, "w1")
    assert row["lease_token"] is not None and row["lease_expires_at"] is not None
    assert complete(db, task_id, row["lease_token"], {"sent": True})
    done = task(db, task_id)
    assert (done["home"], done["state"], done["result"]) == ("history", "succeeded", {"sent": True})
    assert done["finished_at"] is not None and done["started_at"] == row["attempted_at"]


def test_fail_with_retry_requeues_with_backoff(db):
    task_id = enqueue(db)
    row = claim_one(db)
    now = db_now(db)
    assert fail(db, task_id, row["lease_token"], "ValueError: nope", now=now)
    back = hot_row(db, task_id)
    assert (back["state"], back["attempt"], back["lease_token"], back["worker_id"]) == (
        "queued", 1, None, None)
    assert back["run_at"] > now  # the queue's backoff (1 s +/- jitter) lies ahead
    assert back["errors"][-1]["error"] == "ValueError: nope"
    assert back["errors"][-1]["attempt"] == 1


@pytest.mark.parametrize("how", ["permanent", "exhausted", "outcome_dead"])
def test_running_to_dead(db, how):
    task_id = enqueue(db, max_attempts=1 if how == "exhausted" else 5)
    token = claim_one(db)["lease_token"]
    if how == "outcome_dead":
        assert finish(db, [task_id], [token], ["dead"]) == {task_id: "dead"}
    else:
        assert fail(db, task_id, token, "bad", permanent=(how == "permanent"))
    dead = task(db, task_id)
    assert (dead["home"], dead["state"], dead["attempt"]) == ("history", "dead", 1)
    assert dead["message"] == "bad" if how != "outcome_dead" else dead["message"] == "failed"


@pytest.mark.parametrize("running", [False, True])
def test_cancel_unfinished(db, running):
    task_id = enqueue(db)
    if running:
        claim_one(db)
    assert cancel(db, task_id, 'not needed')
    gone = task(db, task_id)
    assert (gone["home"], gone["state"], gone["message"]) == ("history", "cancelled", "not needed")


@pytest.mark.parametrize("final", ["dead", "cancelled"])
def test_retry_task_requeues_dead_and_cancelled(db, final):
    task_id = enqueue(db, max_attempts=1)
    token = claim_one(db)["lease_token"]
    if final == "dead":
        fail(db, task_id, token, "boom")
    else:
        cancel(db, task_id)
    assert retry(db, task_id)
    again = hot_row(db, task_id)
    assert (again["state"], again["attempt"]) == ("queued", 0)
    assert claim_one(db)["id"] == task_id  # fresh attempts: max_attempts=1 allows a claim


@pytest.mark.parametrize("outcome", ["snoozed", "released"])
def test_snoozed_and_released_refund_the_attempt(db, outcome):
    task_id = enqueue(db, max_attempts=1)
    row = claim_one(db)
    now = db_now(db)
    states = finish(db, [task_id], [row["lease_token"]], [outcome], delays=["30 seconds"], now=now)
    assert states == {task_id: "queued"}
    back = hot_row(db, task_id)
    assert (back["state"], back["attempt"], back["errors"]) == ("queued", 0, [])
    assert back["run_at"] == now + 30 * SECOND
    # The refunded attempt is usable even though max_attempts is 1.
    assert claim_one(db, now=now + 31 * SECOND)["attempt"] == 1


def test_complete_a_queued_task_is_refused(db):
    task_id = enqueue(db)
    before = hot_row(db, task_id)
    assert not complete(db, task_id, uuid.uuid4())
    assert not fail(db, task_id, uuid.uuid4())
    assert hot_row(db, task_id) == before


def test_retry_of_unfinished_or_succeeded_task_is_refused(db):
    task_id = enqueue(db)
    assert not retry(db, task_id)
    token = claim_one(db)["lease_token"]
    complete(db, task_id, token)
    assert not retry(db, task_id)
    assert task(db, task_id)["state"] == "succeeded"


def test_cancel_of_a_finished_task_is_refused(db):
    task_id = enqueue(db)
    complete(db, task_id, claim_one(db)["lease_token"])
    assert not cancel(db, task_id)
    assert not cancel(db, -1)
    assert task(db, task_id)["state"] == "succeeded"


def test_stale_lease_token_is_fenced_out(db):
    task_id = enqueue(db)
    first = claim_one(db)
    now = db_now(db)
    # The lease runs out and another worker claims the task: the first token is stale.
    second = claim_one(db, worker="w2", now=now + 31 * SECOND)
    assert second["id"] == task_id and second["lease_token"] != first["lease_token"]
    before = hot_row(db, task_id)
    stale = first["lease_token"]
    assert not complete(db, task_id, stale)
    assert not fail(db, task_id, stale, permanent=True)
    assert finish(db, [task_id], [stale], ["released"]) == {}
    assert heartbeat(db, "w1", [task_id], [stale]) == [task_id]
    assert hot_row(db, task_id) == before
    assert complete(db, task_id, second["lease_token"])


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("update pgtask.tasks set state = 'running'", "running_iff_leased"),
        ("update pgtask.tasks set state = 'succeeded'", "tasks_hold_unfinished_work"),
        ("update pgtask.tasks set lease_token = gen_random_uuid()", "running_iff_leased"),
        ("update pgtask.tasks set payload = '[1, 2]'", "payload_is_an_object"),
        ("update pgtask.tasks set priority = 1001", "priority_in_range"),
        ("update pgtask.tasks set task_type = 'Bad Name'", "task_type_is_valid"),
        ("update pgtask.tasks set max_attempts = 1, attempt = 2", "attempts_within_max"),
        ("insert into pgtask.task_history select id, queue, task_type, payload, 'queued',"
         " priority, run_at, attempt, max_attempts, idempotency_key, target_url, worker_id,"
         " created_at, started_at, attempted_at, now(), errors from pgtask.tasks",
         "history_holds_finished_work"),
    ],
)
def test_direct_writes_that_break_the_rules_are_refused(db, statement, constraint):
    task_id = enqueue(db)
    before = hot_row(db, task_id)
    with pytest.raises(psycopg.errors.CheckViolation, match=constraint):
        db.execute(statement)
    assert hot_row(db, task_id) == before


def test_python_task_state_mirrors_the_sql_enum(shared_db):
    labels = shared_db.execute(
        "select enum_range(null::pgtask.task_state)::text[] as l").fetchone()["l"]
    assert labels == [state.value for state in TaskState]
    assert {s for s in TaskState if s.finished} == {TaskState.SUCCEEDED, TaskState.DEAD,
                                                     TaskState.CANCELLED}
