"""Issue 16, item 11: a handler cancels its own task with `raise pgtask.Cancel(reason)`
(gosk's ErrCancelTask), on both backends, through a real worker: the task ends cancelled
with the reason as its message, no retry, no error hook, and `pgtask retry` revives it."""

from __future__ import annotations

import pgtask
from pgtask.models import EnqueueRequest
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until


def test_a_handler_that_raises_cancel_ends_its_task_cancelled(dsn_for, store, db, ops):
    registry = pgtask.Registry()
    runs: list[int] = []
    hooked: list[BaseException] = []

    @registry.task("accounts.close")
    async def close_account(task):
        runs.append(task.id)
        if task.payload.get("quiet"):
            raise pgtask.Cancel()
        raise pgtask.Cancel("customer closed the account")

    registry.on_error(lambda task, exc: hooked.append(exc))
    loud, quiet = store.enqueue_many([
        EnqueueRequest("accounts.close", {}, max_attempts=5),
        EnqueueRequest("accounts.close", {"quiet": True}, max_attempts=5)])

    def finished():
        tasks = [db.task(loud), db.task(quiet)]
        return all(t and t["state"] != "queued" and t["state"] != "running" for t in tasks) \
            and tasks

    with running_worker(dsn_for, registry, poll_interval=0.05):
        loud_row, quiet_row = wait_until(finished, timeout=20, message="both tasks finished")
    assert (loud_row["state"], loud_row["message"], loud_row["attempt"]) == (
        "cancelled", "customer closed the account", 1)
    assert (quiet_row["state"], quiet_row["message"]) == ("cancelled", "cancelled")
    assert loud_row["errors"] == [] and sorted(runs) == sorted([loud, quiet])  # ran once each
    assert hooked == []  # a decision of the handler, not a failure
    assert ops.retry(loud)
    assert db.task(loud)["state"] == "queued"
