"""ops/lag.py: why a queue's tasks wait, as top, stats and the dashboard say it."""

from __future__ import annotations

from pgtask.ops.lag import QueueState, ReadyType, lag_hints, unregistered_types


def state(**kw) -> QueueState:
    base = dict(name="q", paused=False, queued=5, scheduled=0, running=0,
                concurrency_limit=None, rate_limit=None, started_per_second=0.0)
    return QueueState(**{**base, **kw})


def ready(task_type="t", registered=True, served=True, queue="q") -> ReadyType:
    return ReadyType(queue, task_type, 5, registered, served)


def test_nothing_to_say_about_a_healthy_queue():
    assert lag_hints(state(), [ready()], live_workers_serving=1) == ()


def test_no_live_worker_serves_the_queue():
    assert lag_hints(state(), [ready(served=False)], 0) == ("no live worker serves this queue",)


def test_a_type_no_worker_ever_registered_is_flagged():
    hints = lag_hints(state(), [ready("orphan.job", registered=False, served=False)], 1)
    assert hints == ("never registered by a worker: orphan.job",)
    assert unregistered_types([ready("b", registered=False), ready("a", registered=False),
                               ready("c")]) == ("a", "b")


def test_a_registered_type_whose_workers_are_gone():
    assert lag_hints(state(), [ready("old.job", served=False)], 1) == (
        "no live worker runs old.job",)


def test_paused_and_limits():
    assert lag_hints(state(paused=True), [ready()], 1) == ("paused",)
    assert lag_hints(state(running=3, concurrency_limit=3), [ready()], 1) == (
        "concurrency limit 3 reached",)
    assert lag_hints(state(rate_limit=5.0, started_per_second=4.9), [ready()], 1) == (
        "rate limit 5/s reached",)
    assert lag_hints(state(rate_limit=5.0, started_per_second=1.0), [ready()], 1) == ()


def test_scheduled_for_later():
    assert lag_hints(state(queued=0, scheduled=7), [], 0) == ("7 scheduled for later",)
    assert lag_hints(state(queued=0), [], 0) == ()


def test_other_queues_types_do_not_count():
    assert lag_hints(state(), [ready("x", registered=False, queue="other")], 1) == ()
