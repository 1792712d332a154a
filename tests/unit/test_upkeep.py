"""The heartbeat's schedule and the clock comparison: pure decisions of worker/upkeep.py."""

from __future__ import annotations

import pytest

from pgtask.worker.upkeep import MIN_PERIOD, clock_offset, heartbeat_period


@pytest.mark.parametrize(("ceiling", "shortest", "period"), [
    (5.0, None, 5.0),      # nothing held: the ceiling
    (5.0, 30.0, 5.0),      # the default lease: a third (10 s) is more than the ceiling
    (5.0, 3.0, 1.0),       # a 3 s lease, shorter than the old fixed 5 s heartbeat
    (5.0, 12.0, 4.0),
    (20.0, 0.01, MIN_PERIOD),  # an owner's 10 ms lease: never a busy loop
])
def test_the_heartbeat_renews_within_a_third_of_the_shortest_lease(ceiling, shortest, period):
    assert heartbeat_period(ceiling, shortest) == pytest.approx(period)


def test_clock_offset_is_measured_against_the_midpoint_of_the_round_trip():
    assert clock_offset(before=100.0, database=100.5, after=101.0) == 0.0
    assert clock_offset(before=100.0, database=160.0, after=100.2) == pytest.approx(59.9)
    assert clock_offset(before=100.0, database=40.0, after=100.0) == -60.0


def test_a_batch_with_a_shorter_lease_renews_at_once_and_a_longer_one_waits():
    import asyncio

    from pgtask.worker.runs import Runs
    from pgtask.worker.upkeep import Heartbeat

    beat_now = asyncio.Event()
    heartbeat = Heartbeat(None, "w", 5.0, Runs(), lambda _id: None, beat_now, None)
    heartbeat.claimed(30.0)  # a third is 10 s: the 5 s schedule already renews in time
    assert not beat_now.is_set()
    heartbeat.claimed(3.0)  # needs a renewal within 1 s
    assert beat_now.is_set()
