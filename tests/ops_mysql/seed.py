"""Tasks in known states on MySQL, made by the MySQL store's own operations."""

from __future__ import annotations

from pgtask.models import EnqueueRequest, Outcome
from pgtask.store.mysql.admin import transaction
from pgtask.store.mysql.claim import claim
from pgtask.store.mysql.enqueue import enqueue_on
from pgtask.store.mysql.inspect import fetch
from pgtask.store.mysql.tx import cancel, finish


def rows(conn, query: str, *params) -> list[dict]:
    return fetch(conn, query, params or None)


def enqueue(conn, queue: str = "default", task_type: str = "t.x", priority: int = 0) -> int:
    return enqueue_on(conn, [EnqueueRequest(task_type, {}, queue=queue, priority=priority)])[0]


def make(conn, state: str, queue: str = "default", task_type: str = "t.x") -> int:
    """A task in `state` (queued, running, succeeded, dead or cancelled) in `queue`."""
    # Top priority for those claimed below, so that the claim takes this task and no other.
    task_id = enqueue(conn, queue, task_type, 0 if state in ("queued", "cancelled") else 1000)
    if state == "cancelled":
        transaction(conn, cancel, task_id, None)
    elif state != "queued":
        [held] = transaction(conn, claim, None, "w1", 1, None)
        assert held.id == task_id, "the seeded task should be the only one claimable"
        if state != "running":
            outcome = Outcome(held.id, held.lease_token, state, error="boom")
            transaction(conn, finish, [outcome])
    return task_id


def states_by_id(conn) -> dict[int, tuple[str, str]]:
    found = rows(conn, "SELECT id, queue, CAST(state AS CHAR) AS state FROM pgtask_all_tasks")
    return {r["id"]: (r["queue"], r["state"]) for r in found}
