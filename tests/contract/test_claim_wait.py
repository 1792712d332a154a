"""store.claim_wait, both backends: after a short claim, what a queue's limit holds back, and
whether the worker's queues have any limit at all (if none, it asks less often)."""

from __future__ import annotations

from datetime import UTC, datetime

from pgtask.models import EnqueueRequest


def enqueue_n(store, n: int, queue: str) -> None:
    store.enqueue_many([EnqueueRequest("jobs.run", {"n": i}, queue=queue) for i in range(n)])


def test_queues_without_limits_say_so(store):
    enqueue_n(store, 3, "open")
    wait = store.claim_wait(None, None)
    assert (wait.next_token_in, wait.slots_full, wait.limited) == (None, False, False)


def test_a_limit_counts_even_with_no_work_due(store, db):
    db.set_queue("limited", rate_limit=5.0, rate_burst=5)
    wait = store.claim_wait(None, None)
    assert (wait.next_token_in, wait.limited) == (None, True)
    assert store.claim_wait(["other"], None).limited is False  # not one of my queues


def test_an_empty_bucket_with_work_says_when_the_next_token_comes(store, db):
    enqueue_n(store, 3, "limited")
    db.set_queue("limited", rate_limit=0.5, rate_burst=1, rate_tokens=0,
                 rate_updated_at=datetime.now(UTC))
    wait = store.claim_wait(["limited"], None)
    assert wait.limited and wait.next_token_in is not None and 0 < wait.next_token_in <= 2.0


def test_a_full_concurrency_limit_with_work_is_reported(store, db):
    enqueue_n(store, 3, "limited")
    db.set_queue("limited", concurrency_limit=1)
    assert len(store.claim(None, "w1", 10, None)) == 1
    wait = store.claim_wait(None, None)
    assert wait.slots_full and wait.limited
    assert wait.next_token_in is None  # it waits for a slot (NOTIFY), not a token: no 2 ms spin


def test_a_full_queue_with_tokens_to_spare_waits_for_a_slot(store, db):
    enqueue_n(store, 3, "limited")
    db.set_queue("limited", concurrency_limit=1, rate_limit=100.0, rate_burst=100,
                 rate_tokens=100, rate_updated_at=datetime.now(UTC))
    assert len(store.claim(None, "w1", 10, None)) == 1
    wait = store.claim_wait(None, None)
    assert (wait.slots_full, wait.next_token_in) == (True, None)
