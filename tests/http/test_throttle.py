"""AIMD adaptive rate and the pacer (pure)."""

from __future__ import annotations

import pytest

from pgtask.worker.http.throttle import AdaptiveRate, AimdSettings, Pacer

SETTINGS = AimdSettings(decrease=0.5, increase_fraction=0.1, min_increase=0.5, min_rate=1.0,
                        cooldown=1.0, latency_threshold=2.0, window=2.0)


def busy(rate: AdaptiveRate, per_second: int, until: float, start: float = 0.0) -> None:
    """Record dispatches at `per_second` from start to until."""
    n = int((until - start) * per_second)
    for i in range(n):
        rate.started(start + i / per_second)


def test_unthrottled_until_pushback_then_halves_the_observed_rate():
    rate = AdaptiveRate(SETTINGS)
    busy(rate, 40, until=2.0)
    assert rate.rate(2.0) is None
    assert rate.response(2.0, pushback=False, latency=0.1) is False
    assert rate.response(2.0, pushback=True) is True
    assert rate.rate(2.0) == pytest.approx(20.0)


def test_decreases_are_multiplicative_and_spaced_by_the_cooldown():
    rate = AdaptiveRate(SETTINGS)
    busy(rate, 40, until=2.0)
    rate.response(2.0, pushback=True)
    assert rate.response(2.5, pushback=True) is False      # the same burst: counted once
    assert rate.response(3.0, pushback=True) is True
    assert rate.rate(3.0) == pytest.approx((20 + 0.1 * 40 * 1.0) * 0.5)  # +4/s earned, then halved


def test_additive_increase_then_recovery_to_the_ceiling():
    rate = AdaptiveRate(SETTINGS)
    rate.ceiling = 30.0
    busy(rate, 40, until=2.0)
    rate.response(2.0, pushback=True)                 # 30 (ceiling) -> 15
    assert rate.rate(2.0) == pytest.approx(15.0)
    assert rate.rate(4.0) == pytest.approx(15.0 + 2 * 3.0)  # +10% of 30 per second
    assert rate.rate(6.9) == pytest.approx(15.0 + 4.9 * 3.0)
    assert rate.rate(7.0) is None                     # back at the ceiling: unthrottled


def test_without_a_ceiling_recovery_ends_at_twice_the_choke_point():
    rate = AdaptiveRate(SETTINGS)
    busy(rate, 10, until=2.0)
    rate.response(2.0, pushback=True)                 # 10 -> 5, step 1/s
    assert rate.rate(16.9) is not None
    assert rate.rate(17.0) is None                    # 5 + 15 = 20 = 2 x 10


def test_slow_answers_count_as_pushback():
    rate = AdaptiveRate(SETTINGS)
    busy(rate, 10, until=2.0)
    assert rate.response(2.0, pushback=False, latency=1.9) is False
    assert rate.response(2.0, pushback=False, latency=2.5) is True


def test_never_below_the_floor_and_queue_wide_units():
    rate = AdaptiveRate(SETTINGS)
    rate.response(0.0, pushback=True)                 # nothing observed: the floor
    assert rate.rate(0.0) == 1.0
    for t in range(1, 10):
        rate.response(float(t) * 10, pushback=True)
        assert rate.rate(float(t) * 10) >= 1.0
    other = AdaptiveRate(SETTINGS)
    busy(other, 10, until=2.0)
    other.response(2.0, pushback=True, workers=3)     # three workers at 10/s each
    assert other.rate(2.0) == pytest.approx(15.0)


def test_adopting_a_published_rate():
    rate = AdaptiveRate(SETTINGS)
    rate.set(5.0, 8.0)
    assert rate.rate(5.0) == 8.0
    assert rate.rate(6.0) == pytest.approx(8.0 + 0.1 * 16.0)  # peak assumed 8 / 0.5


def test_pacer_spaces_dispatches_and_refuses_long_waits():
    pacer = Pacer()
    assert pacer.reserve(0.0, None, 1.0) == 0.0
    waits = [pacer.reserve(0.0, 4.0, 1.0) for _ in range(6)]
    assert waits[:5] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert waits[5] == pytest.approx(1.25)            # beyond max_wait: not reserved
    assert pacer.reserve(0.0, 4.0, 2.0) == pytest.approx(1.25)
    assert pacer.reserve(10.0, 4.0, 1.0) == 0.0       # idle time is not banked


def test_settings_are_validated():
    with pytest.raises(ValueError):
        AimdSettings(decrease=1.5)
    with pytest.raises(ValueError):
        AimdSettings(min_rate=0)
