"""Enqueue, claim and finish with each outcome: the same results on both backends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pgtask.models import EnqueueRequest, LogLine, Outcome, WorkerInfo


def enqueue(store, task_type="emails.send", payload=None, **kw) -> int:
    return store.enqueue_many([EnqueueRequest(task_type, payload or {}, **kw)])[0]


def test_enqueue_claim_succeed_moves_the_task_to_history_with_its_result(store, db):
    task_id = enqueue(store, payload={"to": "a@b.c"}, max_attempts=5)
    [task] = store.claim(None, "w1", 10, None)
    assert (task.id, task.task_type, task.queue, task.payload) == (
        task_id, "emails.send", "default", {"to": "a@b.c"})
    assert (task.attempt, task.max_attempts) == (1, 5)
    assert isinstance(task.lease_token, uuid.UUID)
    assert task.attempted_at.tzinfo is not None
    assert abs(task.attempted_at - datetime.now(UTC)) < timedelta(seconds=30)
    assert db.task(task_id)["state"] == "running"

    done = Outcome(task_id, task.lease_token, "succeeded", result={"sent": 1})
    assert store.finish([done]).applied == {task_id}
    row = db.task(task_id)
    assert (row["state"], row["result"], row["attempt"], row["worker_id"]) == (
        "succeeded", {"sent": 1}, 1, "w1")
    assert row["finished_at"] is not None and row["message"] is None
    assert db.rows("select count(*) as n from {tasks}")[0]["n"] == 0  # the hot table is empty


def test_claim_order_is_priority_then_run_at_then_id_and_skips_future_tasks(store, db):
    low = enqueue(store, priority=-5)
    first = enqueue(store)
    second = enqueue(store)
    high = enqueue(store, priority=10)
    enqueue(store, run_at=datetime.now(UTC) + timedelta(hours=1))
    claimed = store.claim(None, "w1", 10, None)
    assert [t.id for t in claimed] == [high, first, second, low]


def test_queue_and_task_type_filters_and_paused_queues(store, db):
    mail = enqueue(store, "emails.send", queue="mail")
    enqueue(store, "sms.send", queue="mail")
    enqueue(store, "emails.send", queue="other")
    paused = enqueue(store, "emails.send", queue="held")
    db.set_queue("held", paused=True)
    assert store.claim(["mail", "held"], "w1", 10, ["emails.send"])[0].id == mail
    assert store.claim(["held"], "w1", 10, None) == []
    assert store.claim(["mail"], "w1", 10, []) == []
    db.set_queue("held", paused=False)
    assert [t.id for t in store.claim(["held"], "w1", 10, None)] == [paused]


def test_attempt_is_counted_at_claim_time(store, db):
    task_id = enqueue(store)
    store.claim(None, "w1", 1, None)
    assert db.task(task_id)["attempt"] == 1


def test_failed_requeues_with_the_error_recorded(store, db):
    db.set_queue("default", min_backoff=timedelta(seconds=10), max_backoff=timedelta(seconds=60),
                 backoff_jitter=0)
    task_id = enqueue(store)
    [task] = store.claim(None, "w1", 1, None)
    failed = Outcome(task_id, task.lease_token, "failed", error="boom")
    assert store.finish([failed]).applied == {task_id}
    row = db.task(task_id)
    assert (row["state"], row["attempt"]) == ("queued", 1)
    [entry] = row["errors"]
    assert (entry["attempt"], entry["worker_id"], entry["error"]) == (1, "w1", "boom")
    failed_at = datetime.fromisoformat(entry["at"])
    assert row["run_at"] - failed_at == timedelta(seconds=10)
    assert store.claim(None, "w1", 1, None) == []  # waiting out its backoff


def test_backoff_doubles_up_to_the_cap(store, db):
    db.set_queue("default", min_backoff=timedelta(seconds=1), max_backoff=timedelta(seconds=5),
                 backoff_jitter=0, max_attempts=10)
    task_id = enqueue(store)
    waits = []
    for _ in range(5):
        db.make_runnable(task_id)
        [task] = store.claim(None, "w1", 1, None)
        store.finish([Outcome(task_id, task.lease_token, "failed", error="again")])
        row = db.task(task_id)
        failed_at = datetime.fromisoformat(row["errors"][-1]["at"])
        waits.append((row["run_at"] - failed_at).total_seconds())
    assert waits == [1, 2, 4, 5, 5]


def test_jitter_spreads_the_wait_around_the_backoff(store, db):
    db.set_queue("default", min_backoff=timedelta(seconds=100), max_backoff=timedelta(seconds=1000),
                 backoff_jitter=0.5)
    ids = [enqueue(store) for _ in range(8)]
    claimed = store.claim(None, "w1", 8, None)
    store.finish([Outcome(t.id, t.lease_token, "failed") for t in claimed])
    waits = set()
    for task_id in ids:
        row = db.task(task_id)
        wait = (row["run_at"] - datetime.fromisoformat(row["errors"][-1]["at"])).total_seconds()
        assert 75 <= wait <= 125
        waits.add(round(wait, 3))
    assert len(waits) > 1


def test_dead_after_max_attempts(store, db):
    db.set_queue("default", min_backoff=timedelta(milliseconds=1),
                 max_backoff=timedelta(milliseconds=1))
    task_id = enqueue(store, max_attempts=2)
    for attempt in (1, 2):
        db.make_runnable(task_id)
        [task] = store.claim(None, "w1", 1, None)
        assert task.attempt == attempt
        store.finish([Outcome(task_id, task.lease_token, "failed", error=f"boom {attempt}")])
    row = db.task(task_id)
    assert (row["state"], row["attempt"], row["message"]) == ("dead", 2, "boom 2")
    assert [e["error"] for e in row["errors"]] == ["boom 1", "boom 2"]


def test_dead_outcome_is_permanent_and_keeps_no_result(store, db):
    task_id = enqueue(store)
    [task] = store.claim(None, "w1", 1, None)
    store.finish([Outcome(task_id, task.lease_token, "dead", result={"x": 1}, error="bad input")])
    row = db.task(task_id)
    assert (row["state"], row["message"], row["result"]) == ("dead", "bad input", None)


@pytest.mark.parametrize("kind", ["snoozed", "released"])
def test_snoozed_and_released_refund_the_attempt(store, db, kind):
    task_id = enqueue(store)
    [task] = store.claim(None, "w1", 1, None)
    store.finish([Outcome(task_id, task.lease_token, kind, delay=timedelta(minutes=5))])
    row = db.task(task_id)
    assert (row["state"], row["attempt"], row["errors"]) == ("queued", 0, [])
    assert row["run_at"] > datetime.now(UTC) + timedelta(minutes=4)


def test_finish_many_at_once_with_mixed_outcomes_and_logs(store, db):
    ids = [enqueue(store, payload={"n": n}) for n in range(3)]
    claimed = store.claim(None, "w1", 3, None)
    at = datetime.now(UTC)
    held = store.finish([
        Outcome(claimed[0].id, claimed[0].lease_token, "succeeded", result=[1, 2]),
        Outcome(claimed[1].id, claimed[1].lease_token, "failed", error="x"),
        Outcome(claimed[2].id, claimed[2].lease_token, "snoozed", delay=timedelta(seconds=1)),
    ], logs=[LogLine(ids[0], 1, at, "info", "hello"), LogLine(ids[0], 1, at, "error", "bye")])
    assert held.applied == set(ids)
    assert [db.task(i)["state"] for i in ids] == ["succeeded", "queued", "queued"]
    assert db.task(ids[0])["result"] == [1, 2]
    lines = db.rows("select level, message from {task_logs} where task_id = %s order by message",
                    ids[0])
    assert [(r["level"], r["message"]) for r in lines] == [("error", "bye"), ("info", "hello")]


def test_unknown_outcome_is_refused(store):
    task_id = enqueue(store)
    [task] = store.claim(None, "w1", 1, None)
    with pytest.raises(Exception, match="outcomes must be"):
        store.finish([Outcome(task_id, task.lease_token, "exploded")])


def test_workers_register_heartbeat_and_deregister(store, db):
    store.register_worker(WorkerInfo("w1", "host-a", 123, ["default"], None, 8))
    [row] = db.rows("select host, pid, concurrency from {workers} where id = %s", "w1")
    assert (row["host"], row["pid"], row["concurrency"]) == ("host-a", 123, 8)
    store.register_worker(WorkerInfo("w1", "host-b", 124, None, None, 4))  # a refresh
    assert db.rows("select host from {workers}") == [{"host": "host-b"}]
    assert store.heartbeat("w1", []) == set()
    store.deregister_worker("w1")
    assert db.rows("select id from {workers}") == []


def test_with_targets_also_claims_http_target_tasks_of_any_type(store, db):
    mine = enqueue(store, "mine.run")
    own_url = enqueue(store, "elsewhere.run", target_url="https://example.com/hook")
    queue_url = enqueue(store, "elsewhere.run", queue="hooks")
    enqueue(store, "elsewhere.run")  # neither mine nor a target: never taken
    db.set_queue("hooks", target_url="https://example.com/queue")
    assert [t.id for t in store.claim(None, "w1", 10, ["mine.run"])] == [mine]
    claimed = store.claim(None, "w1", 10, ["mine.run"], with_targets=True)
    assert sorted(t.id for t in claimed) == sorted([own_url, queue_url])


def test_a_delay_is_counted_from_the_database_clock(store, db):
    task_id = enqueue(store, delay=timedelta(minutes=5))
    row = db.task(task_id)
    delay = row["run_at"] - row["created_at"]
    assert timedelta(minutes=4) < delay <= timedelta(minutes=5, seconds=1)
    assert store.claim(None, "w1", 10, None) == []
