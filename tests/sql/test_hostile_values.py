"""Whatever enqueue_task accepts, every reader can load: run_at, payload depth and delays are
bounded in SQL, refused with an SQLSTATE and a message that says what to fix."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from .helpers import claim, db_now, enqueue, enqueue_many

OUT_OF_RANGE = psycopg.errors.DatetimeFieldOverflow
CHECK = psycopg.errors.CheckViolation
HOSTILE_RUN_AT = ("infinity", "-infinity", "4713-01-01 BC", "12000-01-01", "1969-12-31 23:59:59+00",
                  "294276-01-01")


def nested(depth: int) -> dict:
    """A payload `depth` levels deep as MySQL counts them: the object is level 1, the
    scalar at the bottom level `depth`."""
    value: object = 1
    for _ in range(depth - 2):
        value = [value]
    return {"a": value}


@pytest.mark.parametrize("run_at", HOSTILE_RUN_AT)
def test_enqueue_task_refuses_a_run_at_no_reader_can_load(as_role, run_at):
    app = as_role("pgtask_app")
    with pytest.raises(OUT_OF_RANGE, match="run_at .* is out of range"):
        app.execute("select pgtask.enqueue_task('t', '{}', run_at => %s::timestamptz)", (run_at,))


@pytest.mark.parametrize("run_at", HOSTILE_RUN_AT)
def test_enqueue_tasks_refuses_it_too(as_role, run_at):
    app = as_role("pgtask_app")
    with pytest.raises(OUT_OF_RANGE, match="out of range"):
        app.execute("select pgtask.enqueue_tasks(array['a', 'b'], run_ats => array[now(), %s])",
                    (run_at,))
    assert app.execute("select count(*) as n from pgtask.enqueue_tasks(array['a'], "
                       "run_ats => array[now() + interval '99 years'])").fetchone()["n"] == 1


def test_a_run_at_within_the_range_is_accepted(db):
    now = db_now(db)
    for run_at in (now - timedelta(days=365 * 50), now + timedelta(days=365 * 99)):
        enqueue(db, run_at=run_at)


def test_payload_depth_is_bounded_at_100_levels(db):
    enqueue(db, payload=nested(100))
    with pytest.raises(CHECK, match="nested more than 100 levels deep"):
        enqueue(db, payload=nested(101))
    with pytest.raises(CHECK, match="nested more than 100 levels deep"):
        enqueue_many(db, ["a", "b"], payloads=[{}, nested(300)])
    with pytest.raises(CHECK, match="nested more than 100 levels deep"):
        db.execute("select pgtask.enqueue_task('t', on_success => %s)",
                   (Jsonb({"task_type": "next", "payload": nested(101)}),))


@pytest.mark.parametrize("delay", ["200 years", "-1 second"])
def test_follow_up_delays_are_bounded(db, delay):
    with pytest.raises(CHECK, match="delay must be from 0 to 100 years"):
        db.execute("select pgtask.enqueue_task('t', on_success => %s)",
                   (Jsonb({"task_type": "next", "delay": delay}),))


def test_a_retry_asked_for_past_100_years_waits_100_years(db):
    enqueue(db)
    task = claim(db)[0]
    row = db.execute(
        "select * from pgtask.finish_tasks(array[%s::bigint], array[%s::uuid], array['failed'],"
        " delays => array[interval '1000000 years'])", (task["id"], task["lease_token"]),
    ).fetchone()
    assert row["state"] == "queued"
    left = db.execute("select run_at - now() as wait from pgtask.tasks").fetchone()["wait"]
    assert timedelta(days=36_000) < left <= timedelta(days=36_525)


@pytest.mark.parametrize("setting", ['{"lease": "2 days"}', '{"dispatch_deadline": "25 hours"}',
                                     '{"max_backoff": "1000 years"}'])
def test_queue_intervals_have_an_upper_bound(db, setting):
    with pytest.raises(CHECK, match="at most 1 day"):
        db.execute("select pgtask.configure_queue('q', %s)", (setting,))
