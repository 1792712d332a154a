"""Task types in the database (issue 16, items 1 and 2): workers register definitions with
pgtask.register_task_types, and every way of enqueueing by name takes them for what it
leaves out (enqueue_task, enqueue_tasks, a raw INSERT, follow-ups); explicit values win."""

from __future__ import annotations

import json

from psycopg.types.json import Jsonb

from .helpers import claim, hot_row

REPORTS = {"name": "reports.build", "queue": "reports", "priority": 5, "max_attempts": 3,
           "timeout_seconds": 30, "title": "Build a report", "description": "Nightly."}


def register(db, *definitions, worker="w-types") -> int:
    return db.execute("select pgtask.register_task_types(%s, %s) as n",
                      (worker, Jsonb(list(definitions)))).fetchone()["n"]


def options(db, task_id):
    row = hot_row(db, task_id)
    return row["queue"], row["priority"], row["max_attempts"]


def test_register_upserts_and_the_latest_worker_wins(db):
    assert register(db, REPORTS) == 1
    assert register(db, {**REPORTS, "max_attempts": 4}, worker="w2") == 1
    row = db.execute("select * from pgtask.task_types").fetchone()
    assert (row["queue"], row["max_attempts"], row["last_worker"]) == ("reports", 4, "w2")
    assert row["timeout"].total_seconds() == 30 and row["title"] == "Build a report"


def test_enqueue_task_by_name_takes_the_registered_options(db):
    register(db, REPORTS)
    task_id = db.execute("select pgtask.enqueue_task('reports.build') as id").fetchone()["id"]
    assert options(db, task_id) == ("reports", 5, 3)


def test_explicit_values_win_over_the_definition(db):
    register(db, REPORTS)
    task_id = db.execute(
        "select pgtask.enqueue_task('reports.build', queue => 'default', priority => 0,"
        " max_attempts => 9) as id").fetchone()["id"]
    assert options(db, task_id) == ("default", 0, 9)


def test_a_type_never_registered_keeps_the_old_defaults(db):
    task_id = db.execute("select pgtask.enqueue_task('never.seen') as id").fetchone()["id"]
    assert options(db, task_id) == ("default", 0, None)


def test_enqueue_tasks_fills_each_row_from_its_type(db):
    register(db, REPORTS)
    ids = [r["id"] for r in db.execute(
        "select id from pgtask.enqueue_tasks(array['reports.build', 'other', 'reports.build'],"
        " queues => array[null, null, 'q2'], priorities => array[null, 1, null])"
        " as id").fetchall()]
    assert [options(db, i) for i in ids] == [
        ("reports", 5, 3), ("default", 1, None), ("q2", 5, 3)]


def test_enqueue_tasks_with_a_key_takes_the_definition_too(db):
    register(db, REPORTS)
    [task_id] = [r["id"] for r in db.execute(
        "select id from pgtask.enqueue_tasks(array['reports.build'],"
        " idempotency_keys => array['k1']) as id").fetchall()]
    assert options(db, task_id) == ("reports", 5, 3)


def test_a_raw_insert_takes_the_definition(db):
    register(db, REPORTS)
    task_id = db.execute("insert into pgtask.tasks (task_type, payload)"
                         " values ('reports.build', '{}') returning id").fetchone()["id"]
    assert options(db, task_id) == ("reports", 5, 3)


def test_a_raw_insert_into_a_queue_without_a_row_is_claimed(db):
    """Item 2: the TaskMaple seed's "just add a row"."""
    db.execute("insert into pgtask.tasks (queue, task_type, payload)"
               " values ('fresh', 'raw.job', '{\"n\": 1}')")
    claimed = claim(db, ["fresh"])
    assert [(t["task_type"], t["payload"]) for t in claimed] == [("raw.job", {"n": 1})]


def test_a_raw_insert_naming_queue_and_priority_is_claimed_after_maintenance(db):
    """Such a row skips the trigger (nothing to fill in), so its queue may have no row:
    rescue_tasks, which every worker's maintenance runs, gives it one."""
    db.execute("insert into pgtask.tasks (queue, priority, task_type, payload)"
               " values ('bare', 3, 'raw.job', '{}')")
    assert claim(db, queues=["bare"]) == []
    db.execute("select pgtask.rescue_tasks()")
    assert [t["task_type"] for t in claim(db, queues=["bare"])] == ["raw.job"]


def test_a_follow_up_takes_its_type_definition(db):
    register(db, REPORTS)
    parent = db.execute("select pgtask.enqueue_task('t', on_success => %s) as id",
                        (json.dumps({"task_type": "reports.build"}),)).fetchone()["id"]
    [task] = claim(db, ["default"])
    db.execute("select pgtask.complete_task(%s, %s)", (parent, task["lease_token"]))
    child = db.execute("select id from pgtask.tasks where parent_id = %s", (parent,)).fetchone()
    assert options(db, child["id"]) == ("reports", 5, 3)
