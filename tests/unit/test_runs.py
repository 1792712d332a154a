"""Runs are known by (task id, lease token): a re-claim supersedes, never overwrites."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pgtask.models import ClaimedTask
from pgtask.worker.context import TaskContext
from pgtask.worker.runs import Run, Runs


def run_of(task_id: int, lease: float = 30.0) -> Run:
    now = datetime.now(UTC)
    claimed = ClaimedTask(task_id, "default", "t", {}, 1, 5, uuid.uuid4(), now, now, now,
                          lease=timedelta(seconds=lease))
    return Run(claimed, TaskContext(claimed))


def test_a_second_claim_of_a_task_is_a_second_run_and_names_the_first():
    runs = Runs()
    first, second = run_of(7), run_of(7)
    assert runs.add(first) == []
    assert runs.add(second) == [first]
    assert len(runs) == 2 and {k for k in runs.held()} == {first.key, second.key}
    runs.remove(first)  # the stale run ending does not take the new one with it
    assert list(runs) == [second] and first.ended.is_set() and not second.ended.is_set()


def test_stopping_a_run_is_done_once_and_cancels_its_context():
    run = run_of(1)
    assert run.stop("lost") and run.ctx.cancelled and run.stop_reason == "lost"
    assert not run.stop("shutdown") and run.stop_reason == "lost"


def test_the_shortest_lease_held():
    runs = Runs()
    assert runs.shortest_lease() is None
    runs.add(run_of(1, 30))
    runs.add(run_of(2, 3))
    assert runs.shortest_lease() == 3.0
