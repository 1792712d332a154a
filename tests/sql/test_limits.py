"""Queue-wide limits hold across claimers: two connections claim at the same moments.

Each round, both claimers pass a barrier and call claim_task at once; whichever takes the
queue row's lock first fills the queue, the other skips it or finds no room. Either way
the sum per round is exactly what the limit allows.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from .helpers import SECOND, claim, complete, count, db_now, enqueue_many, set_queue

CLAIMERS = 2


def run_rounds(dsn: str, nows: list[datetime | None], finish_each_round: bool,
               between_rounds=None) -> list[int]:
    """Both claimers claim at each of `nows`; returns the total claimed per round.

    After the claims of a round, `between_rounds()` (if given) checks the state; then each
    claimer completes what it holds when `finish_each_round`.
    """
    barrier = threading.Barrier(CLAIMERS)
    per_round = [[0] * CLAIMERS for _ in nows]

    def claimer(index: int) -> None:
        with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
            for n, now in enumerate(nows):
                barrier.wait(timeout=30)
                rows = claim(conn, queues=["limited"], worker=f"w{index}", batch=10, now=now)
                per_round[n][index] = len(rows)
                barrier.wait(timeout=30)
                if index == 0 and between_rounds is not None:
                    between_rounds(n)
                barrier.wait(timeout=30)
                if finish_each_round:
                    for row in rows:
                        assert complete(conn, row["id"], row["lease_token"], now=now)

    with ThreadPoolExecutor(CLAIMERS) as pool:
        for future in [pool.submit(claimer, i) for i in range(CLAIMERS)]:
            future.result(timeout=120)
    return [sum(counts) for counts in per_round]


def running_count(db) -> int:
    return db.execute("select count(*) as n from pgtask.tasks where state = 'running'"
                      " and queue = 'limited'").fetchone()["n"]


class Watcher:
    """Samples the running count from a third connection while the claimers work."""

    def __init__(self, dsn: str) -> None:
        self.dsn, self.peak, self.samples = dsn, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row) as conn:
            while not self.stop.is_set():
                self.peak = max(self.peak, running_count(conn))
                self.samples += 1

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def test_concurrency_limit_holds_across_two_claimers(dsn, db):
    limit, total = 3, 30
    set_queue(db, "limited", concurrency_limit=limit)
    enqueue_many(db, ["t"] * total, queues=["limited"] * total)
    observed = []

    def check(_round: int) -> None:
        observed.append(running_count(db))

    with Watcher(dsn) as watcher:
        per_round = run_rounds(dsn, [None] * (total // limit), True, check)
    assert per_round == [limit] * (total // limit)
    assert observed == [limit] * (total // limit)
    assert watcher.peak <= limit and watcher.samples > 0
    assert count(db, "tasks") == 0


def test_concurrency_limit_counts_tasks_still_running(dsn, db):
    set_queue(db, "limited", concurrency_limit=4)
    enqueue_many(db, ["t"] * 10, queues=["limited"] * 10)
    # Nobody finishes: the first round fills the limit, later rounds find no room.
    assert run_rounds(dsn, [None] * 3, False) == [4, 0, 0]
    assert running_count(db) == 4


def test_rate_limit_holds_across_two_claimers(dsn, db):
    # 2 tasks a second, bursts of 2; the bucket starts empty at t0.
    t0 = db_now(db)
    set_queue(db, "limited", rate_limit=2.0, rate_burst=2, rate_tokens=0.0, rate_updated_at=t0)
    enqueue_many(db, ["t"] * 40, queues=["limited"] * 40)
    steps = [0.0, 0.5, 1.0, 1.5, 1.75, 2.0, 2.5, 7.5, 8.0, 8.25, 8.5]
    nows = [t0 + timedelta(seconds=s) for s in steps]
    per_round = run_rounds(dsn, nows, True)
    # A token every half second; a long pause refills only up to the burst of 2.
    assert per_round == [0, 1, 1, 1, 0, 1, 1, 2, 1, 0, 1]
    claimed = sum(per_round)
    assert claimed <= 2 + 2 * steps[-1]
    assert count(db, "tasks") == 40 - claimed


def test_rate_limited_claims_do_not_exceed_the_bucket_within_one_instant(db):
    t0 = db_now(db)
    set_queue(db, "limited", rate_limit=10.0, rate_burst=5, rate_tokens=0.0, rate_updated_at=t0)
    enqueue_many(db, ["t"] * 20, queues=["limited"] * 20)
    later = t0 + 10 * SECOND
    assert len(claim(db, queues=["limited"], batch=20, now=later)) == 5
    assert claim(db, queues=["limited"], batch=20, now=later) == []
    # A claimer whose clock lags must not be credited again for time already spent.
    assert claim(db, queues=["limited"], batch=20, now=later - SECOND) == []
    assert len(claim(db, queues=["limited"], batch=20, now=later + 0.2 * SECOND)) == 2
