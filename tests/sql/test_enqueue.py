"""enqueue_task and enqueue_tasks: what they store, and the clear refusal of bad input."""

from __future__ import annotations

import psycopg
import pytest

from .helpers import count, db_now, enqueue, enqueue_many, hot_row

BIG = {"blob": "x" * (1024 * 1024)}

# (keyword arguments for enqueue, the same for enqueue_many, the message expected)
BAD_INPUT = [
    ({"task_type": "Emails.Send"}, {"task_types": ["ok", "Emails.Send"]},
     "invalid task type 'Emails.Send'"),
    ({"task_type": ""}, {"task_types": [""]}, "invalid task type ''"),
    ({"queue": "has space"}, {"task_types": ["t"], "queues": ["has space"]},
     "invalid queue name 'has space'"),
    ({"queue": "q" * 129}, {"task_types": ["t"], "queues": ["q" * 129]}, "invalid queue name"),
    ({"payload": BIG}, {"task_types": ["t"], "payloads": [BIG]},
     "payload is 1048588 bytes; the limit is 1048576 bytes"),
    ({"priority": 1001}, {"task_types": ["t"], "priorities": [1001]},
     "priority 1001 is out of range"),
    ({"priority": -40000}, {"task_types": ["t"], "priorities": [-40000]},
     "priority -40000 is out of range"),
    ({"max_attempts": 0}, {"task_types": ["t"], "max_attempts": [0]},
     "max_attempts 0 is out of range"),
    ({"max_attempts": 1001}, {"task_types": ["t"], "max_attempts": [1001]},
     "max_attempts 1001 is out of range"),
    ({"target_url": "ftp://x"}, {"task_types": ["t"], "target_urls": ["ftp://x"]},
     "target_url must start with http:// or https://"),
    ({"key": ""}, {"task_types": ["t"], "idempotency_keys": [""]},
     "idempotency_key must be 1 to 255 characters, got 0"),
    ({"key": "k" * 256}, {"task_types": ["t"], "idempotency_keys": ["k" * 256]},
     "idempotency_key must be 1 to 255 characters, got 256"),
]


def assert_nothing_stored(db):
    assert (count(db, "tasks"), count(db, "queues"), count(db, "idempotency_keys")) == (0, 0, 0)


@pytest.mark.parametrize(("single", "bulk", "message"), BAD_INPUT)
def test_bad_input_to_enqueue_task(shared_db, single, bulk, message):
    with pytest.raises(psycopg.errors.CheckViolation, match=message):
        enqueue(shared_db, **{"key": "k1", **single})
    assert_nothing_stored(shared_db)


@pytest.mark.parametrize(("single", "bulk", "message"), BAD_INPUT)
def test_bad_input_to_enqueue_tasks(shared_db, single, bulk, message):
    n = len(bulk["task_types"])
    with pytest.raises(psycopg.errors.CheckViolation, match=message):
        enqueue_many(shared_db, **bulk)
    # The same bad row among good ones, some with keys, still stores nothing.
    padded = {name: ["ok", *values, "ok"] if name == "task_types" else [None, *values, None]
              for name, values in bulk.items()}
    padded["idempotency_keys"] = ["k1", *bulk.get("idempotency_keys", [None] * n), "k2"]
    with pytest.raises(psycopg.errors.CheckViolation, match=message):
        enqueue_many(shared_db, **padded)
    assert_nothing_stored(shared_db)


@pytest.mark.parametrize("payload", ["[1, 2]", '"text"', "42", "null"])
def test_non_object_payloads_are_refused(shared_db, payload):
    kind = {"[1, 2]": "array", '"text"': "string", "42": "number", "null": "null"}[payload]
    with pytest.raises(psycopg.errors.CheckViolation,
                       match=f"payload must be a JSON object, got {kind}"):
        shared_db.execute("select pgtask.enqueue_task('t', %s::jsonb)", (payload,))
    with pytest.raises(psycopg.errors.CheckViolation,
                       match=f"payload must be a JSON object, got {kind}"):
        shared_db.execute("select pgtask.enqueue_tasks(array['t', 't'], array['{}', %s]::jsonb[])",
                   (payload,))
    assert_nothing_stored(shared_db)


def test_null_task_type_is_refused(shared_db):
    with pytest.raises(psycopg.errors.CheckViolation, match="invalid task type NULL"):
        shared_db.execute("select pgtask.enqueue_task(null)")
    with pytest.raises(psycopg.errors.CheckViolation, match="invalid task type NULL"):
        shared_db.execute("select pgtask.enqueue_tasks(array['t', null])")
    assert_nothing_stored(shared_db)


@pytest.mark.parametrize("array", ["payloads", "queues", "run_ats", "priorities",
                                   "idempotency_keys", "max_attempts", "target_urls"])
def test_enqueue_tasks_refuses_mismatched_arrays(shared_db, array):
    values = {"payloads": [{}], "queues": ["q"], "run_ats": [None], "priorities": [1],
              "idempotency_keys": ["k"], "max_attempts": [3], "target_urls": [None]}
    with pytest.raises(psycopg.errors.InvalidParameterValue,
                       match="enqueue_tasks arrays must all have 2 elements"):
        enqueue_many(shared_db, ["a", "b"], **{array: values[array]})
    assert_nothing_stored(shared_db)


def test_a_payload_at_the_cap_is_accepted(db):
    payload = {"blob": "x" * (1024 * 1024 - 12)}  # {"blob": "..."} is 12 bytes of frame
    task_id = enqueue(db, payload=payload)
    assert len(hot_row(db, task_id)["payload"]["blob"]) == 1024 * 1024 - 12


def test_enqueue_task_stores_what_it_was_given(db):
    run_at = db_now(db).replace(year=2099)
    task_id = enqueue(db, "reports.build", {"n": 1}, queue="reports", run_at=run_at,
                      priority=-5, key="r-1", max_attempts=3, target_url="https://x.test/hook")
    row = hot_row(db, task_id)
    assert {k: row[k] for k in ("queue", "task_type", "payload", "state", "priority", "run_at",
                                "attempt", "max_attempts", "idempotency_key", "target_url")} == {
        "queue": "reports", "task_type": "reports.build", "payload": {"n": 1},
        "state": "queued", "priority": -5, "run_at": run_at, "attempt": 0, "max_attempts": 3,
        "idempotency_key": "r-1", "target_url": "https://x.test/hook"}
    queue = db.execute("select * from pgtask.queues where name = 'reports'").fetchone()
    assert (queue["paused"], queue["max_attempts"], queue["lease"].total_seconds()) == (
        False, 20, 30)


def test_enqueue_tasks_returns_ids_in_input_order_with_defaults(db):
    ids = enqueue_many(db, ["a", "b", "c", "d"], queues=["q1", None, "q2", "q1"],
                       priorities=[None, 7, None, None], idempotency_keys=[None, "k", None, "k"])
    assert len(ids) == 4 and ids[0] < ids[2]
    rows = [hot_row(db, i) for i in ids]
    assert [(r["task_type"], r["queue"], r["priority"]) for r in rows] == [
        ("a", "q1", 0), ("b", "default", 7), ("c", "q2", 0), ("d", "q1", 0)]
    assert count(db, "tasks") == 4
    # The same key again returns the same ids, in a batch or one at a time.
    assert enqueue_many(db, ["b", "d"], queues=[None, "q1"], idempotency_keys=["k", "k"]) == [
        ids[1], ids[3]]
    assert enqueue(db, "b", key="k") == ids[1]
    assert count(db, "tasks") == 4


def test_enqueue_tasks_with_a_repeated_key_stores_one_task(db):
    ids = enqueue_many(db, ["a", "a"], idempotency_keys=["same", "same"])
    assert ids[0] == ids[1] and count(db, "tasks") == 1


def test_empty_enqueue_tasks_is_a_no_op(db):
    assert enqueue_many(db, []) == []
    assert_nothing_stored(db)
