"""`pgtask prune` and a worker's maintenance prune in batches, each committed on its own
(issue 17): another connection watching task_history sees it shrink step by step, never
one long transaction that takes everything at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
# `n` finished tasks, 30 days old: expired for any retention under that.
EXPIRED = """
insert into pgtask.task_history (id, queue, task_type, payload, state, priority, run_at, attempt,
                                 created_at, finished_at, errors)
select i, 'default', 't', '{}', 'succeeded', 0, now() - interval '31 days', 1,
       now() - interval '31 days', now() - interval '30 days' + i * interval '1 ms', '[]'
  from generate_series(1, %s) i
"""
COUNT = "select count(*) from pgtask.task_history"


def watch(dsn: str, done, timeout: float = 120) -> list[int]:
    """Every distinct history count a separate connection sees until done() (or 0 rows)."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            finished = done()
            [n] = conn.execute(COUNT).fetchone()
            if not seen or seen[-1] != n:
                seen.append(n)
            if finished or n == 0:
                return seen
    raise AssertionError(f"still pruning after {timeout}s; counts seen: {seen}")


def test_pgtask_prune_commits_batch_after_batch(db, dsn):
    db.execute(EXPIRED, (30_000,))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgtask", "prune", "--older-than", "1d", "--yes",
         "--batch-size", "3000", "--dsn", dsn],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = watch(dsn, lambda: proc.poll() is not None)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert "pruned 30,000 task(s)" in out
    assert seen[0] == 30_000 and seen[-1] == 0
    # Several committed steps, each a whole batch: never a count between two batches.
    assert len(seen) >= 4, f"counts seen while pruning: {seen}"
    assert all(n % 3000 == 0 for n in seen), seen


def test_a_worker_prunes_in_batches_during_its_maintenance(db, dsn, spawn_on):
    db.execute(EXPIRED, (50_000,))
    worker = spawn_on(dsn, "--retention", "1d", "--rescue-interval", "1s")
    seen = watch(dsn, lambda: worker.proc.poll() is not None)
    assert worker.proc.poll() is None, worker.log()
    assert seen[0] == 50_000 and seen[-1] == 0
    # The worker's batches are store.pruning.DEFAULT_BATCH_SIZE (10,000) rows.
    assert len(seen) >= 3, f"counts seen while pruning: {seen}"
    assert all(n % 10_000 == 0 for n in seen), seen


def test_a_backlog_bigger_than_one_round_is_pruned_without_waiting_the_interval(db, dsn,
                                                                                spawn_on):
    """A round prunes for about WORKER_BUDGET (1 s, ~100,000 rows here at best); with more
    left, the next round follows after PRUNE_AGAIN, not after the maintenance interval (here
    10 minutes): before, history could outgrow its retention on a busy queue."""
    db.execute(EXPIRED, (300_000,))
    worker = spawn_on(dsn, "--retention", "1d", "--rescue-interval", "10m")
    seen = watch(dsn, lambda: worker.proc.poll() is not None, timeout=300)
    assert worker.proc.poll() is None, worker.log()
    assert seen[0] == 300_000 and seen[-1] == 0
