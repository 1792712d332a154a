"""Chains: follow-ups enqueued by the statement that finishes their predecessor."""

import json

import psycopg
import pytest

from pgtask.chains import follow_up, follow_ups, group_members
from pgtask.models import EnqueueRequest
from pgtask.store.postgres.store import enqueue_on

from .helpers import run_task, scalar


def enqueue(db, task_type="a", payload="{}", **kw):
    args = ", ".join(f"{k} => %({k})s::jsonb" for k in kw)
    query = f"select pgtask.enqueue_task(%(t)s, %(p)s::jsonb{', ' if kw else ''}{args})"
    return scalar(db, query, {"t": task_type, "p": payload,
                              **{k: json.dumps(v) for k, v in kw.items()}})


def tasks(db):
    return db.execute("select id, task_type, payload, parent_id from pgtask.tasks order by id"
                      ).fetchall()


def test_a_successor_receives_its_predecessors_result(db):
    a = enqueue(db, on_success={"task_type": "b", "payload": {"keep": 1}, "queue": "q2",
                                "priority": 5, "on_success": {"task_type": "c"}})
    assert tasks(db)[0]["id"] == a and len(tasks(db)) == 1  # nothing before A finishes
    run_task(db, a, result={"rows": 42})
    (b,) = tasks(db)
    assert b["task_type"] == "b" and b["parent_id"] == a
    assert b["payload"] == {"keep": 1, "parent_id": a, "parent_result": {"rows": 42}}
    row = db.execute("select queue, priority from pgtask.tasks where id = %s",
                     (b["id"],)).fetchone()
    assert row == {"queue": "q2", "priority": 5}
    run_task(db, b["id"], result="done")  # the chain goes on: B -> C
    (c,) = tasks(db)
    assert (c["task_type"], c["parent_id"], c["payload"]["parent_result"]) == ("c", b["id"], "done")


def test_a_dead_task_runs_on_failure_and_not_on_success(db):
    a = enqueue(db, on_success={"task_type": "next"}, on_failure=[{"task_type": "alert"},
                                                                   {"task_type": "cleanup"}])
    run_task(db, a, error="boom", dead=True)
    got = tasks(db)
    assert [t["task_type"] for t in got] == ["alert", "cleanup"]
    assert got[0]["payload"] == {"parent_id": a, "parent_error": "boom"}


def test_a_retried_failure_is_not_the_end_only_the_last_attempt_is(db):
    a = scalar(db, "select pgtask.enqueue_task('a', max_attempts => 2, on_failure => %s::jsonb)",
               ('{"task_type": "alert"}',))
    run_task(db, a, error="first")
    assert [t["task_type"] for t in tasks(db)] == ["a"]  # back in its queue, no alert
    db.execute("update pgtask.tasks set run_at = now() - interval '1 minute' where id = %s", (a,))
    run_task(db, a, error="second")
    assert [t["task_type"] for t in tasks(db)] == ["alert"]


def test_a_task_dead_by_lease_runs_on_failure(db):
    scalar(db, "select pgtask.enqueue_task('a', max_attempts => 1, on_failure => %s::jsonb,"
               " on_success => %s::jsonb)", ('{"task_type": "alert"}', '{"task_type": "next"}'))
    db.execute("select pgtask.claim_task(null, 'w1', 1)")
    assert scalar(db, "select pgtask.rescue_tasks(now() + interval '1 hour')") == 1
    (alert,) = tasks(db)
    assert alert["task_type"] == "alert" and "lease expired" in alert["payload"]["parent_error"]


def test_a_cancelled_task_ends_its_chain(db):
    a = enqueue(db, on_success={"task_type": "b"}, on_failure={"task_type": "c"})
    assert scalar(db, "select pgtask.cancel_task(%s)", (a,)) is True
    assert tasks(db) == []


def test_rolled_back_enqueue_or_finish_leaves_nothing_behind(dsn, db):
    with psycopg.connect(dsn) as conn:  # a transaction of the application's
        conn.execute("select pgtask.enqueue_task('a', on_success => '{\"task_type\": \"b\"}')")
        conn.rollback()
    assert tasks(db) == [] and scalar(db, "select count(*) from pgtask.task_history") == 0
    a = enqueue(db, on_success={"task_type": "b"})
    row = db.execute("select id, lease_token from pgtask.claim_task(null, 'w', 1)").fetchone()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select pgtask.complete_task(%s, %s)",
                            (a, row["lease_token"])).fetchone()[0]
        conn.rollback()
    assert [t["task_type"] for t in tasks(db)] == ["a"]  # still running, no follow-up


def test_retry_of_a_dead_task_can_then_succeed_into_its_chain(db):
    a = enqueue(db, on_success={"task_type": "b"}, on_failure={"task_type": "alert"})
    run_task(db, a, error="boom", dead=True)
    assert scalar(db, "select pgtask.retry_task(%s)", (a,))
    db.execute("delete from pgtask.tasks where task_type = 'alert'")
    run_task(db, a, result=1)
    assert [t["task_type"] for t in tasks(db)] == ["b"]


def test_a_huge_result_is_left_out_of_the_followup_payload(db):
    a = enqueue(db, on_success={"task_type": "b", "payload": {"x": 1}})
    run_task(db, a, result={"blob": "x" * 1_100_000})
    (b,) = tasks(db)
    assert b["payload"]["x"] == 1 and "parent_result" not in b["payload"]
    assert "done_tasks" in b["payload"]["parent_result_omitted"]


@pytest.mark.parametrize("spec, message", [
    ('"b"', "JSON object or an array"), ('[1]', "must be a JSON object"),
    ('{"task_type": "B"}', "invalid task type"),
    ('{"task_type": "b", "qeue": "x"}', "unknown follow-up"),
    ('{"task_type": "b", "on_failure": {"payload": {}}}', "invalid task type"),
    ('{"task_type": "b", "delay": "-1 minute"}', "delay must be from 0 to 100 years"),
])
def test_bad_followups_are_refused_when_enqueued(db, spec, message):
    with pytest.raises(psycopg.Error, match=message):
        db.execute("select pgtask.enqueue_task('a', on_success => %s::jsonb)", (spec,))


def test_the_finished_task_record_shows_timings_attempts_and_links(db):
    a = enqueue(db, on_success={"task_type": "b"})
    run_task(db, a, result={"ok": True})
    b = tasks(db)[0]["id"]
    run_task(db, b, error="nope", dead=True)
    rec = {r["id"]: r for r in db.execute("select * from pgtask.done_tasks").fetchall()}
    assert rec[a]["result"] == {"ok": True} and rec[a]["follow_ups"] == [b]
    assert rec[a]["attempts"] == 1 and rec[a]["finished_at"] >= rec[a]["started_at"]
    assert rec[a]["duration"] == rec[a]["finished_at"] - rec[a]["started_at"]
    assert (rec[b]["state"], rec[b]["message"], rec[b]["parent_id"]) == ("dead", "nope", a)
    assert rec[b]["result"] is None and rec[b]["follow_ups"] == []


def test_bulk_and_python_enqueue_take_followups(db):
    then = follow_ups([follow_up("b", {"n": 1}, delay=60), "c"])
    assert then == [{"task_type": "b", "payload": {"n": 1}, "delay": "60.0 seconds"},
                    {"task_type": "c"}]
    ids = enqueue_on(db, [EnqueueRequest("a", on_success=then), EnqueueRequest("plain"),
                          EnqueueRequest("k", idempotency_key="k1", on_failure=follow_ups("x"))])
    rows = db.execute("select id, on_success, on_failure from pgtask.tasks order by id").fetchall()
    assert [r["on_success"] for r in rows] == [then, None, None]
    assert rows[2]["on_failure"] == [{"task_type": "x"}] and [r["id"] for r in rows] == ids
    run_task(db, ids[0], result=7)
    delayed = db.execute("select run_at - now() > interval '59 seconds' as later from pgtask.tasks"
                         " where task_type = 'b'").fetchone()
    assert delayed["later"]


def test_python_helpers_check_before_the_database_does():
    with pytest.raises(ValueError, match="invalid task type"):
        follow_up("Bad")
    with pytest.raises(ValueError, match="unknown follow-up field"):
        follow_ups({"task_type": "b", "payload_": {}})
    with pytest.raises(ValueError, match="delay must not be negative"):
        follow_up("b", delay=-1)
    assert follow_ups(None) is None and follow_ups([]) is None
    assert group_members(["a", ("b", {"n": 1})]) == [{"task_type": "a"},
                                                     {"task_type": "b", "payload": {"n": 1}}]
