"""The pure parts of queue limits: how long a worker sleeps after a short claim, and the
burst a rate comes with (issue 16, items 3 and 5)."""

from __future__ import annotations

import pytest

from pgtask.models import ClaimWait
from pgtask.store.mysql.queue_settings import default_burst
from pgtask.worker.wakeup import SLOT_POLL, TOKEN_SLACK, limited_delay


def test_a_rate_limit_shortens_the_sleep_to_the_next_token():
    assert limited_delay(1.0, ClaimWait(next_token_in=0.2), True) == pytest.approx(
        0.2 + TOKEN_SLACK)
    assert limited_delay(1.0, ClaimWait(next_token_in=0.0), True) == TOKEN_SLACK  # no spin
    assert limited_delay(0.1, ClaimWait(next_token_in=5.0), True) == 0.1  # never longer


def test_a_full_concurrency_limit_polls_fast_only_without_notify():
    full = ClaimWait(slots_full=True)
    assert limited_delay(1.0, full, notify_on=True) == 1.0  # finish_tasks sends NOTIFY
    assert limited_delay(1.0, full, notify_on=False) == SLOT_POLL


def test_no_limit_in_the_way_keeps_the_poll():
    assert limited_delay(1.0, ClaimWait(), False) == 1.0


@pytest.mark.parametrize("rate, burst", [(5.0, 5), (2.5, 3), (1 / 6, 1), (1e12, 1_000_000)])
def test_a_rate_comes_with_one_seconds_worth_of_burst(rate, burst):
    assert default_burst(rate, 1) == burst


def test_a_cleared_or_bad_rate_keeps_the_burst():
    assert default_burst(None, 7) == 7
    assert default_burst(float("inf"), 7) == 7
    assert default_burst(-1.0, 7) == 7


def test_a_worker_without_limits_asks_again_only_after_the_recheck():
    """One claim_wait round trip per LIMITS_RECHECK, not one per short claim, when none of
    the worker's queues has a limit; with a limit, every short claim asks."""
    import asyncio

    from pgtask.worker.wakeup import LIMITS_RECHECK, Wakeup

    async def count_calls(answer: ClaimWait) -> int:
        calls = 0

        async def limits() -> ClaimWait:
            nonlocal calls
            calls += 1
            return answer

        wakeup = Wakeup(None, "w1", True, 1.0, limits=limits)  # type: ignore[arg-type]
        for _ in range(5):
            await wakeup._held_back()
        within = calls
        wakeup._unlimited_until -= LIMITS_RECHECK  # as if LIMITS_RECHECK had gone by
        await wakeup._held_back()
        return within, calls

    assert asyncio.run(count_calls(ClaimWait(limited=False))) == (1, 2)
    assert asyncio.run(count_calls(ClaimWait(next_token_in=0.1))) == (5, 6)
    assert LIMITS_RECHECK >= 5  # long enough to matter, short enough for a limit set later
