"""finish_tasks outcome 'cancelled' (a handler's pgtask.Cancel) stops the task's chain as
cancel_task does, and counts it as cancelled in its fan-in group."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from .helpers import claim, count, finish, task


def test_finish_cancelled_records_the_reason_and_stops_the_chain(db):
    follow_up = Jsonb([{"task_type": "next"}])
    task_id = db.execute("select pgtask.enqueue_task('t', on_success => %s, on_failure => %s)"
                         " as id", (follow_up, follow_up)).fetchone()["id"]
    [held] = claim(db)
    rows = db.execute(
        "select * from pgtask.finish_tasks(%s, %s, %s, null, %s)",
        ([task_id], [held["lease_token"]], ["cancelled"], ["payload refers to a deleted user"]),
    ).fetchall()
    assert [(r["id"], r["state"]) for r in rows] == [(task_id, "cancelled")]
    row = task(db, task_id)
    assert (row["state"], row["message"], row["errors"]) == (
        "cancelled", "payload refers to a deleted user", [])
    assert count(db, "tasks") == 0  # neither on_success nor on_failure was enqueued


def test_finish_cancelled_counts_in_the_group(db):
    group_id = db.execute(
        "select pgtask.enqueue_group(%s, %s) as id",
        (Jsonb([{"task_type": "member"}]), Jsonb([{"task_type": "after"}]))).fetchone()["id"]
    [held] = claim(db, task_types=["member"])
    assert finish(db, [held["id"]], [held["lease_token"]], ["cancelled"]) == {
        held["id"]: "cancelled"}
    group = db.execute("select * from pgtask.groups where id = %s", (group_id,)).fetchone()
    assert (group["remaining"], group["cancelled"], group["completed_at"] is not None) == (
        0, 1, True)
    assert [t["task_type"] for t in claim(db)] == ["after"]
