"""Issue 16, item 11: pgtask.delete_task and pgtask.update_task change a queued task only;
any other state is refused with a message that says what to do instead."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from .helpers import (
    cancel,
    claim,
    count,
    db_now,
    enqueue,
    notifications_until_sentinel,
    task,
)


def delete(db, task_id: int) -> bool:
    return db.execute("select pgtask.delete_task(%s) as ok", (task_id,)).fetchone()["ok"]


def update(db, task_id: int, **changes) -> dict | None:
    return db.execute("select * from pgtask.update_task(%s, %s)",
                      (task_id, Jsonb(changes))).fetchone()


def refusal(call) -> str:
    with pytest.raises(psycopg.errors.RaiseException) as caught:
        call()
    return caught.value.diag.message_primary or ""


def test_delete_removes_a_queued_task_its_key_and_logs_without_history(db):
    task_id = enqueue(db, key="order-7")
    db.execute("select pgtask.append_logs(%s, %s, %s, %s, %s)",
               ([task_id], [1], [db_now(db)], ["info"], ["queued once"]))
    assert delete(db, task_id)
    assert task(db, task_id) is None
    assert count(db, "idempotency_keys") == count(db, "task_logs") == 0
    assert count(db, "task_history") == 0
    assert enqueue(db, key="order-7") != task_id  # the key is free again
    assert delete(db, 987654) is False


def test_delete_refuses_a_running_finished_or_grouped_task(db):
    running = enqueue(db)
    claim(db)
    assert "is running; only a queued task can be deleted" in refusal(lambda: delete(db, running))
    done = enqueue(db)
    cancel(db, done)
    assert "has finished" in refusal(lambda: delete(db, done))
    group = db.execute("select pgtask.enqueue_group(%s, %s) as id",
                       (Jsonb([{"task_type": "member"}]), Jsonb([{"task_type": "after"}]))
                       ).fetchone()["id"]
    [member] = db.execute("select id from pgtask.tasks where group_id = %s", (group,)).fetchall()
    assert f"belongs to group {group}" in refusal(lambda: delete(db, member["id"]))
    assert task(db, running)["state"] == "running" and task(db, member["id"]) is not None


def test_update_changes_what_it_is_given_and_checks_it_as_enqueue_does(db):
    task_id = enqueue(db, payload={"a": 1}, priority=1)
    later = db_now(db) + timedelta(hours=2)
    row = update(db, task_id, payload={"b": 2}, priority=9, run_at=later.isoformat(),
                 queue="other", max_attempts=4)
    assert (row["payload"], row["priority"], row["queue"], row["max_attempts"]) == (
        {"b": 2}, 9, "other", 4)
    assert row["run_at"] == later
    assert db.execute("select 1 from pgtask.queues where name = 'other'").fetchone()
    assert update(db, task_id, run_at=None, max_attempts=None)["max_attempts"] is None
    assert update(db, 987654, priority=1) is None
    for changes, message in (({"priority": 5000}, "priority 5000 is out of range"),
                             ({"payload": [1]}, "payload must be a JSON object"),
                             ({"queue": "Bad Name"}, "invalid queue name"),
                             ({"task_type": "x"}, "'task_type' cannot be changed"),
                             ({}, "say what to change")):
        with pytest.raises(psycopg.errors.CheckViolation) as caught:
            update(db, task_id, **changes)
        assert message in (caught.value.diag.message_primary or "")


def test_update_refuses_a_running_or_finished_task(db):
    running = enqueue(db)
    claim(db)
    assert "is running; only a queued task can be updated" in refusal(
        lambda: update(db, running, priority=3))
    done = enqueue(db)
    cancel(db, done)
    assert "has finished; only a queued task can be updated" in refusal(
        lambda: update(db, done, priority=3))


def test_update_moves_the_idempotency_key_with_the_task_unless_taken(db):
    task_id = enqueue(db, key="k")
    update(db, task_id, queue="other")
    assert db.execute("select queue from pgtask.idempotency_keys").fetchone()["queue"] == "other"
    assert enqueue(db, queue="other", key="k") == task_id
    rival = enqueue(db, queue="third", key="k")
    with pytest.raises(psycopg.errors.UniqueViolation):
        update(db, rival, queue="other")


def test_update_refuses_fewer_attempts_than_already_used(db):
    task_id = enqueue(db)
    for _ in range(2):
        db.execute("update pgtask.tasks set run_at = now() where id = %s", (task_id,))
        [held] = claim(db)
        db.execute("select pgtask.fail_task(%s, %s, 'boom')", (task_id, held["lease_token"]))
    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        update(db, task_id, max_attempts=1)
    assert "has used 2 attempts" in (caught.value.diag.message_primary or "")


def test_update_that_makes_a_task_due_now_wakes_a_waiting_worker(listener, db):
    task_id = enqueue(db, run_at=db_now(db) + timedelta(hours=1))
    notifications_until_sentinel(listener, db)  # what the enqueue sent, if anything
    update(db, task_id, priority=5)
    assert notifications_until_sentinel(listener, db) == []  # still not due: nobody to wake
    update(db, task_id, run_at=None)
    assert notifications_until_sentinel(listener, db) == ["default"]
