"""The five-minute window kept across refreshes: buckets, expiry, percentiles."""

from datetime import UTC, datetime, timedelta

import pytest

from pgtask.ops.window import Window, percentiles

T = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
E = T.timestamp()


def test_percentiles_interpolate_like_percentile_cont():
    assert percentiles([], (0.5,)) is None
    assert percentiles([10, 20, 30, 51, 59], (0.5, 0.95, 0.99)) == pytest.approx((30, 57.4, 58.68))
    assert percentiles([7], (0.5, 0.99)) == (7, 7)


def test_buckets_sum_into_windows_and_expire():
    w = Window()
    w.add([{"kind": "done", "queue": "q", "at": E - 3, "n": 4, "wait": None},
           {"kind": "done", "queue": "q", "at": E - 30, "n": 6, "wait": None},
           {"kind": "done", "queue": "q", "at": E - 200, "n": 5, "wait": None},
           {"kind": "failed", "queue": "q", "at": E - 1, "n": 2, "wait": None}], T)
    assert w.completed("q") == (4, 10, 15) and w.failed("q") == (2, 2, 2)
    assert w.per_second("q")[-4] == 4 and sum(w.per_second("q")) == 10
    w.add([], T + timedelta(seconds=120))
    assert w.completed("q") == (0, 0, 10)  # the bucket 200 s before T has expired
    w.add([], T + timedelta(seconds=400))
    assert w.completed("q") == (0, 0, 0) and w.completed("other") == (0, 0, 0)


def test_pickups_keep_a_minute_and_running_ones_are_not_kept():
    w = Window()
    w.add([{"kind": "pickup", "queue": "q", "at": E - 50, "n": 1, "wait": 1.0},
           {"kind": "pickup", "queue": "q", "at": E - 5, "n": 1, "wait": 3.0},
           {"kind": "running", "queue": "q", "at": E - 1, "n": 1, "wait": 5.0}], T)
    assert w.pickup("q") == pytest.approx((3.0, 4.8, 4.96))
    w.add([], T + timedelta(seconds=20))
    assert w.pickup("q") == (3.0, 3.0, 3.0)  # the first sample is now too old
    assert w.pickup("none") is None
