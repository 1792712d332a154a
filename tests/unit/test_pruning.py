"""store/pruning.py: the batch loop's pure rules (issue 17)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from pgtask.store.pruning import (
    DEFAULT_BATCH_SIZE,
    aprune_in_batches,
    check_batch_size,
    keep_going,
    prune_in_batches,
)


def batches_of(total: int):
    """A batch function over `total` rows, recording the sizes it was asked for."""
    left, asked = [total], []

    def batch(size: int) -> int:
        asked.append(size)
        n = min(size, left[0])
        left[0] -= n
        return n
    return batch, asked


def test_it_loops_until_a_batch_comes_back_short():
    batch, asked = batches_of(25)
    assert prune_in_batches(batch, 10) == (25, False)
    assert asked == [10, 10, 10]


def test_an_exact_multiple_takes_one_empty_batch_to_know_it_is_done():
    batch, asked = batches_of(20)
    assert prune_in_batches(batch, 10) == (20, False)
    assert len(asked) == 3


def test_a_spent_budget_leaves_the_rest_for_later():
    batch, asked = batches_of(100)
    ticks = itertools.count()  # every clock reading is one second later
    assert prune_in_batches(batch, 10, budget=1.5, clock=lambda: float(next(ticks))) == (20, True)
    assert len(asked) == 2


def test_the_async_loop_follows_the_same_rules():
    batch, asked = batches_of(25)

    async def abatch(size: int) -> int:
        return batch(size)
    assert asyncio.run(aprune_in_batches(abatch, 10)) == (25, False)
    assert asyncio.run(aprune_in_batches(abatch, 10, budget=0)) == (0, False)
    more, _ = batches_of(30)

    async def amore(size: int) -> int:
        return more(size)
    assert asyncio.run(aprune_in_batches(amore, 10, budget=0)) == (10, True)  # more is left


@pytest.mark.parametrize(("pruned", "elapsed", "budget", "expected"), [
    (10, 0.1, None, True), (9, 0.1, None, False), (10, 1.0, 1.0, False), (10, 0.5, 1.0, True),
])
def test_keep_going(pruned, elapsed, budget, expected):
    assert keep_going(pruned, 10, elapsed, budget) is expected


@pytest.mark.parametrize("size", [0, -5, 1_000_001])
def test_a_batch_size_out_of_range_is_refused_before_any_batch(size):
    batch, asked = batches_of(5)
    with pytest.raises(ValueError):
        prune_in_batches(batch, size)
    assert asked == []


def test_the_default_batch_size_is_accepted():
    assert check_batch_size(DEFAULT_BATCH_SIZE) == 10_000
