"""Schedules in SQL: definition, exactly-once fire times, enable/disable, run-now, catch-up."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pgtask.schedules import ScheduleDef, Timing
from pgtask.store.sessions import open_schedules
from pgtask.worker.scheduler import tick_once

from .helpers import scalar

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def add(db, name="tick", **kw):
    kw.setdefault("every", timedelta(minutes=1))
    return db.execute("select * from pgtask.add_schedule(%(name)s, 'tick.task', cron => %(cron)s,"
                      " every => %(every)s, catch_up => %(catch_up)s, enabled => %(enabled)s,"
                      " now => %(now)s)",
                      {"name": name, "cron": None, "catch_up": 0, "enabled": None, "now": T0,
                       **kw}).fetchone()


def fire(db, times, next_fire_at=None, name="tick", if_updated_at=None):
    return db.execute("select * from pgtask.fire_schedule(%s, %s::timestamptz[], %s, %s)",
                      (name, times, next_fire_at, if_updated_at)).fetchall()


@pytest.mark.parametrize("kw, message", [
    ({"cron": "* * *", "every": None}, "must have 5 fields"),
    ({"cron": "@hourly"}, "either cron or every"),
    ({"every": timedelta(0)}, "positive interval"),
    ({"catch_up": -1}, "catch_up must be from 0"),
    ({"name": "Bad Name"}, "invalid schedule name"),
])
def test_add_schedule_refuses_bad_definitions(db, kw, message):
    with pytest.raises(psycopg.Error, match=message):
        add(db, **kw)


def test_unknown_time_zone_is_refused(db):
    with pytest.raises(psycopg.Error, match="time zone"):
        db.execute("select pgtask.add_schedule('x', 't', '@daily', time_zone => 'Mars/Olympus')")


def test_a_fire_time_enqueues_exactly_once_and_gives_back_its_task(db):
    add(db)
    first = fire(db, [T0, T0 + timedelta(minutes=1)], T0 + timedelta(minutes=2))
    again = fire(db, [T0 + timedelta(minutes=1)])
    assert [r["fire_at"] for r in first] == [T0, T0 + timedelta(minutes=1)]
    assert again[0]["task_id"] == first[1]["task_id"]
    tasks = db.execute("select id, run_at, task_type from pgtask.tasks order by id").fetchall()
    assert [(t["id"], t["run_at"]) for t in tasks] == [(r["task_id"], r["fire_at"]) for r in first]
    row = db.execute("select next_fire_at, last_fire_at from pgtask.schedules").fetchone()
    assert row == {"next_fire_at": T0 + timedelta(minutes=2),
                   "last_fire_at": T0 + timedelta(minutes=1)}
    # A fire time the schedule moved past without enqueueing it stays unenqueued.
    assert fire(db, [T0 - timedelta(minutes=5)])[0]["task_id"] is None
    assert scalar(db, "select count(*) from pgtask.tasks") == 2


def test_disabled_or_changed_schedules_do_not_fire(db):
    version = add(db)["updated_at"]
    assert fire(db, [T0], if_updated_at=version - timedelta(seconds=1)) == []
    db.execute("select pgtask.set_schedule_enabled('tick', false)")
    assert fire(db, [T0]) == []
    assert fire(db, [T0], name="nope") == []
    assert scalar(db, "select count(*) from pgtask.tasks") == 0


def test_concurrent_fires_of_the_same_times_make_one_task_each(dsn, db):
    add(db)
    times = [T0 + timedelta(minutes=m) for m in range(20)]

    def racer(_):
        with psycopg.connect(dsn, autocommit=True) as conn:
            for at in times:
                conn.execute("select * from pgtask.fire_schedule('tick', array[%s]::timestamptz[])",
                             (at,))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(racer, range(8)))
    assert scalar(db, "select count(*) from pgtask.tasks") == 20
    assert scalar(db, "select count(distinct run_at) from pgtask.tasks") == 20
    assert scalar(db, "select count(*) from pgtask.schedule_fires") == 20


def test_redeclaring_keeps_place_in_time_unless_timing_changes(db):
    add(db)
    fire(db, [T0], T0 + timedelta(minutes=1))
    kept = add(db, catch_up=3)
    assert kept["next_fire_at"] == T0 + timedelta(minutes=1) and kept["catch_up"] == 3
    db.execute("select pgtask.set_schedule_enabled('tick', false)")
    assert add(db)["enabled"] is False  # enabled => null keeps an operator's choice
    changed = add(db, every=timedelta(minutes=5), enabled=True, now=T0 + timedelta(hours=1))
    assert changed["next_fire_at"] is None
    assert changed["anchor_at"] == changed["updated_at"] == T0 + timedelta(hours=1)


def test_enable_resumes_from_now_and_run_now_fires_at_once(db):
    add(db)
    fire(db, [T0], T0 + timedelta(minutes=1))
    assert scalar(db, "select pgtask.set_schedule_enabled('tick', false)") is True
    assert scalar(db, "select pgtask.set_schedule_enabled('tick', true, %s)",
                  (T0 + timedelta(days=1),))
    row = db.execute("select next_fire_at, updated_at from pgtask.schedules").fetchone()
    assert row == {"next_fire_at": None, "updated_at": T0 + timedelta(days=1)}
    db.execute("select pgtask.set_schedule_enabled('tick', false)")
    task_id = scalar(db, "select pgtask.run_schedule_now('tick')")
    assert scalar(db, "select task_type from pgtask.tasks where id = %s", (task_id,)) == "tick.task"
    with pytest.raises(psycopg.Error, match="no schedule named"):
        db.execute("select pgtask.run_schedule_now('nope')")
    assert scalar(db, "select pgtask.remove_schedule('tick')") is True
    assert scalar(db, "select count(*) from pgtask.schedule_fires") == 0
    assert scalar(db, "select pgtask.remove_schedule('tick')") is False


async def _tick(dsn, now):
    async with open_schedules(dsn) as schedules:
        return await tick_once(schedules, now)


@pytest.mark.parametrize("catch_up", [0, 3])
def test_catch_up_after_the_scheduler_was_down(dsn, catch_up):
    async def declare():
        async with open_schedules(dsn) as schedules:
            return await schedules.add(ScheduleDef(
                "minutely", "tick.task", cron="* * * * *", catch_up=catch_up), now=T0)

    asyncio.run(declare())
    # Running normally: each minute enqueued as it comes.
    fired = asyncio.run(_tick(dsn, T0 + timedelta(minutes=1, seconds=2)))
    assert [f[1] for f in fired] == [T0 + timedelta(minutes=1)]
    # Then down for three hours: only the on-time fire time, plus the latest catch_up missed.
    back = T0 + timedelta(hours=3, minutes=1, seconds=5)
    fired = asyncio.run(_tick(dsn, back))
    expected = Timing(cron="* * * * *").between(back - timedelta(minutes=catch_up + 1), back)
    assert [f[1] for f in fired] == expected
    assert asyncio.run(_tick(dsn, back)) == []  # nothing left to do
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from pgtask.tasks").fetchone()[0] == 1 + catch_up + 1


def test_prune_forgets_old_fire_times_and_completed_groups(db):
    add(db)
    fire(db, [T0, T0 + timedelta(days=9)], T0 + timedelta(days=10))
    db.execute("select pgtask.enqueue_group('[]', '{\"task_type\": \"zip\"}', %s)", (T0,))
    db.execute("select pgtask.prune('7 days', %s)", (T0 + timedelta(days=10),))
    assert [r["fire_at"] for r in db.execute("select fire_at from pgtask.schedule_fires")] == [
        T0 + timedelta(days=9)]
    assert scalar(db, "select count(*) from pgtask.groups") == 0
