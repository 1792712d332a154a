"""The adaptive rate and the pacer (pure): single steps, and whole runs against a simulated
target of fixed capacity (tests/http/throttle_sim.py)."""

from __future__ import annotations

import pytest

from pgtask.worker.http.throttle import AdaptiveRate, AimdSettings, Pacer

from .throttle_sim import simulate

SETTINGS = AimdSettings(decrease=0.5, backoff=0.9, increase_fraction=0.1, min_increase=0.5,
                        min_rate=1.0, cooldown=1.0, latency_threshold=2.0, window=2.0)


def busy(rate: AdaptiveRate, per_second: int, until: float, start: float = 0.0) -> None:
    """Dispatches at `per_second` from start to until, each answered 200 at once."""
    for i in range(int((until - start) * per_second)):
        at = start + i / per_second
        rate.started(at)
        rate.response(at, pushback=False, sent_at=at)


def throttled(at: float, rate: float, good: float | None = None) -> AdaptiveRate:
    """A throttle that adopted `rate` at `at` (and knows `good` as its last good rate)."""
    throttle = AdaptiveRate(SETTINGS)
    throttle.set(at, rate)
    throttle.good = good or rate
    return throttle


def test_unthrottled_until_pushback_then_just_below_what_was_sent():
    rate = AdaptiveRate(SETTINGS)
    busy(rate, 40, until=2.0)
    assert rate.rate(2.0) is None
    assert rate.response(2.0, pushback=False, latency=0.1) is False
    assert rate.response(2.0, pushback=True) is True
    assert rate.rate(2.0) == pytest.approx(0.9 * 40 * 81 / 82)  # 81 of 82 answers accepted
    assert rate.good == pytest.approx(40 * 81 / 82)


def test_a_decrease_goes_to_the_share_the_target_accepted():
    rate = throttled(0.0, 20.0)
    for i in range(21):   # 2 of 3 accepted; the pushback within the cooldown only counts
        at = i * 0.045
        rate.started(at)
        assert rate.response(at, pushback=i % 3 == 2, sent_at=at) is False
    assert rate.response(1.0, pushback=True, sent_at=0.99) is True
    capacity = 20.0 * 14 / 22                        # 14 accepted of 22 answers
    assert rate.rate(1.0) == pytest.approx(max(10.0, 0.9 * capacity))
    assert rate.good == pytest.approx(capacity)
    halved = throttled(0.0, 20.0)
    halved.response(1.0, pushback=True)              # nothing accepted: at most halved
    assert halved.rate(1.0) == pytest.approx(10.0)


def test_pushback_to_requests_sent_before_a_decrease_counts_once():
    rate = AdaptiveRate(SETTINGS)
    busy(rate, 10, until=2.0)
    assert rate.response(2.0, pushback=True, sent_at=1.9) is True
    assert rate.response(2.5, pushback=True, sent_at=1.95) is False  # within the cooldown
    assert rate.response(4.0, pushback=True, sent_at=1.99) is False  # sent at the old rate
    assert rate.response(4.0, pushback=True, sent_at=3.5) is True


def test_increases_are_earned_only_while_the_rate_binds():
    rate = throttled(0.0, 7.2, good=8.0)
    assert rate.rate(30.0) == pytest.approx(7.2)    # idle: no credit banked for later
    rate.started(30.0, held=True)
    assert rate.rate(30.1) == pytest.approx(7.2 * 2 ** 0.1)  # recovering: doubling per second
    rate.started(30.5, held=True)
    assert rate.rate(30.5) == pytest.approx(8.0)    # ... capped at the last good rate


def test_above_the_last_good_rate_it_probes_gently_then_faster():
    rate = throttled(0.0, 8.0)
    steps, last = [], 8.0
    for tenth in range(1, 31):
        now = tenth / 10
        rate.started(now, held=True)
        current = rate.rate(now)
        assert current is not None
        if current > last:
            steps.append(current - last)
        last = current
    assert steps and steps[0] < 0.1                 # a small first step past the last good rate
    assert steps[-1] > 3 * steps[0]                 # growing while the target copes


def test_unthrottled_only_at_the_ceiling():
    rate = throttled(0.0, 8.0)
    rate.ceiling = 12.0
    now, top = 0.0, 8.0
    while (current := rate.rate(now)) is not None:
        top = current
        now += 0.05
        rate.started(now, held=True)
    assert top < 12.0 and top == pytest.approx(12.0, rel=0.05)
    free = throttled(0.0, 8.0)                       # no ceiling: it keeps growing, throttled
    for tick in range(1, 201):
        free.started(tick * 0.05, held=True)
    assert (free.rate(10.0) or 0) > 8.0 * 5


def test_an_outage_keeps_the_last_good_rate():
    rate = throttled(0.0, 8.0)
    for second in range(1, 6):                      # nothing accepted any more
        rate.started(second - 0.5)
        assert rate.response(float(second), pushback=True) is True
    assert rate.rate(6.0) == pytest.approx(1.0)     # down at the floor ...
    assert rate.good == pytest.approx(8.0)          # ... but recovery aims back at 8


def test_slow_answers_count_as_pushback_and_the_floor_holds():
    rate = AdaptiveRate(SETTINGS)
    busy(rate, 10, until=2.0)
    assert rate.response(2.0, pushback=False, latency=1.9) is False
    assert rate.response(2.0, pushback=False, latency=2.5) is True
    for t in range(1, 10):
        rate.response(2.0 + t * 10, pushback=True)
        assert rate.rate(2.0 + t * 10) >= 1.0


def test_queue_wide_units_when_unthrottled():
    rate = AdaptiveRate(SETTINGS)
    busy(rate, 10, until=2.0)
    rate.response(2.0, pushback=True, workers=3)     # three workers at 10/s each
    assert rate.rate(2.0) == pytest.approx(0.9 * 30.0 * 20 / 21)


def test_a_long_retry_after_pauses_the_queue():
    rate = AdaptiveRate(SETTINGS)
    busy(rate, 10, until=2.0)
    rate.response(2.0, pushback=True, retry_after=2.0)   # per-request limiting: no pause
    assert rate.paused_until == float("-inf")
    rate.response(4.0, pushback=True, retry_after=8.0)   # "come back later": a pause
    assert rate.paused_until == pytest.approx(12.0)
    assert Pacer().slot(4.0, 10.0, rate.paused_until) == pytest.approx(12.0)


def test_adopting_a_published_rate():
    rate = AdaptiveRate(SETTINGS)
    rate.set(5.0, 8.0)
    assert rate.rate(5.0) == 8.0 and rate.good == 8.0
    assert rate.response(5.5, pushback=True, sent_at=4.9) is False  # another's decrease
    rate.set(6.0, None)
    assert rate.rate(6.0) is None


def test_pacer_spaces_dispatches_without_banking_idle_time():
    pacer = Pacer()
    assert pacer.slot(0.0, 4.0) == 0.0
    pacer.take(0.0)
    assert pacer.slot(0.0, 4.0) == pytest.approx(0.25)
    pacer.waiting = 3
    assert pacer.expected_wait(0.0, 4.0) == pytest.approx(0.25 + 0.75)
    assert pacer.slot(10.0, 4.0) == 10.0               # idle time is not banked


def test_settings_are_validated():
    for bad in ({"decrease": 1.5}, {"min_rate": 0}, {"decrease": 0.95, "backoff": 0.9},
                {"recovery": 0.5}, {"window": 0}):
        with pytest.raises(ValueError):
            AimdSettings(**bad)


@pytest.mark.parametrize(("workers", "capacity"), [(1, 8), (2, 8), (2, 20), (4, 30)])
def test_a_simulated_run_settles_at_the_capacity(workers, capacity):
    """Default settings, demand always above capacity: after 10 s, >= 85% of capacity
    used and <= 10% refused (the end-to-end test measures the same on a real target)."""
    run = simulate(capacity, workers=workers, seconds=20.0)
    used, refused = run.used_and_refused(10.0, 20.0)
    assert used >= 0.85 and refused <= 0.10, (used, refused)


def test_a_simulated_outage_recovers_without_a_burst():
    run = simulate(8, workers=2, seconds=30.0, outage=(10.0, 14.0))
    assert run.busiest_second(14.0, 30.0) <= 10        # never far past the capacity
    used, _ = run.used_and_refused(20.0, 30.0)
    assert used >= 0.85
