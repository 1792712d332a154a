"""Item 7: a queue-level HTTP target delivers on both backends (before: on MySQL/MariaDB the
tasks were claimed and silently put back when their lease ran out — no request, no attempt
used). A real worker (in-process), a real HTTP target, a real database of each backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from pgtask import Registry
from pgtask.models import EnqueueRequest
from pgtask.worker.http.targets import HttpTargets
from tests.http.helpers import make_config
from tests.http.target import Reply, TargetServer
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until


@pytest.fixture
def target() -> Iterator[TargetServer]:
    server = TargetServer().start()
    yield server
    server.stop()


def finished(db, ids: list[int]) -> dict[int, dict]:
    tasks = {i: db.task(i) for i in ids}
    return {i: t for i, t in tasks.items() if t and t["state"] in ("succeeded", "dead")}


def test_a_queue_level_target_receives_each_task_and_its_answer_decides(
        backend, dsn_for, store, db, target):
    db.set_queue("hooks", target_url=target.url("/hook"), lease=timedelta(seconds=60))

    def respond(seen):
        if json.loads(seen.body)["payload"].get("missing"):
            return Reply(404, b"no such order")
        return Reply(200, json.dumps({"task": seen.headers["pgtask-task-id"]}))

    target.responder = respond
    ok = store.enqueue_many([EnqueueRequest("orders.created", {"n": n}, queue="hooks")
                             for n in range(3)])
    gone = store.enqueue_many([EnqueueRequest("orders.created", {"missing": True},
                                              queue="hooks")])
    ids = [*ok, *gone]
    targets = HttpTargets(make_config(), refresh_interval=0.5)
    with running_worker(dsn_for, Registry(), targets, queues=["hooks"], poll_interval=0.05):
        # well within the 60 s lease: a put-back would only show after it
        done = wait_until(lambda: len(finished(db, ids)) == len(ids) and finished(db, ids),
                          timeout=20, message="every task delivered")
    assert sorted(int(s.headers["pgtask-task-id"]) for s in target.requests) == sorted(ids)
    for task_id in ok:
        assert done[task_id]["state"] == "succeeded"
        assert done[task_id]["result"] == {"task": str(task_id)}  # the body, stored
        assert done[task_id]["attempt"] == 1
    assert done[gone[0]]["state"] == "dead"  # a 4xx is permanent, and it used its attempt
    assert done[gone[0]]["attempt"] == 1
