"""`pgtask worker --log-format json` (issue 18 item 3): every line one JSON object naming
its event, the attempt's task on the worker's lines and on the handler's own, in every
process of a supervisor; and the option is checked loudly, from the environment too.

Before (old code): `--log-format` is a usage error (exit 2, "No such option").
"""

from __future__ import annotations

import json

import pytest

from tests.logging.procs import Pgtask, run
from tests.support.waiting import wait_until

HANDLERS = "tests.logging.flaky_tasks"
FAST_QUEUE = ("insert into pgtask.queues (name, min_backoff, max_backoff, backoff_jitter) "
              "values ('logq', '10 ms', '50 ms', 0)")
REQUIRED = ("time", "level", "logger", "event", "message")


@pytest.fixture
def start():
    started: list[Pgtask] = []

    def spawn(*args: str, **kw) -> Pgtask:
        proc = Pgtask(*args, **kw)
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        proc.stop()


def enqueue(db, task_type: str) -> int:
    return db.execute("select pgtask.enqueue_task(%s, queue => 'logq') as id",
                      (task_type,)).fetchone()["id"]


def state(db, task_id: int) -> str | None:
    row = db.execute("select state from pgtask.all_tasks where id = %s", (task_id,)).fetchone()
    return row and row["state"]


def test_a_failing_then_passing_task_logs_json_lines_that_name_it(dsn, db, start):
    db.execute(FAST_QUEUE)
    task_id = enqueue(db, "logs.flaky")
    worker = start("worker", "--dsn", dsn, "--handlers", HANDLERS, "--queue", "logq",
                   "--log-format", "json", "--log-level", "info")
    wait_until(lambda: state(db, task_id) == "succeeded", timeout=30,
               message="logs.flaky to succeed on its second attempt")
    assert worker.stop() == 0
    lines = worker.lines()  # every line parses
    print("\n".join(worker.text().splitlines()[:12]))
    for line in lines:
        assert all(line.get(key) for key in REQUIRED), line
        assert line["time"].endswith("Z") and len(line["time"]) == len("2026-01-01T00:00:00.000Z")
    started = worker.events("worker.started")
    assert len(started) == 1 and started[0]["worker"], lines
    worker_id = started[0]["worker"]
    (failed,) = worker.events("task.failed")
    assert failed["level"] == "warning" and "first attempt fails on purpose" in failed["message"]
    assert {k: failed[k] for k in ("task_id", "task_type", "queue", "attempt", "worker")} == {
        "task_id": task_id, "task_type": "logs.flaky", "queue": "logq", "attempt": 1,
        "worker": worker_id}
    own = [line for line in lines if line["logger"] == "app.flaky"]
    assert [(line["event"], line["task_id"], line["attempt"]) for line in own] == [
        ("log", task_id, 1), ("log", task_id, 2)], own
    assert worker.events("worker.stopped"), "the drain is logged too"


def test_supervisor_children_log_json_too(dsn, start):
    worker = start("worker", "--dsn", dsn, "--handlers", HANDLERS, "--queue", "logq",
                   "--processes", "2", "--log-format", "json")
    wait_until(lambda: len(worker.events("worker.started")) == 2, timeout=30,
               message="both children to start")
    assert worker.stop() == 0
    lines = worker.lines()
    assert len(worker.events("process.started")) == 2
    assert len({line["pid"] for line in worker.events("worker.started")}) == 2
    assert all(line["event"] and line["time"] for line in lines)


def test_the_environment_sets_the_format_and_a_refusal_is_a_json_line_too():
    result = run("worker", "--handlers", HANDLERS, "--dsn", "host=/nonexistent dbname=x",
                 extra_env={"PGTASK_LOG_FORMAT": "json"})
    assert result.returncode == 2, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [line["event"] for line in lines] == ["worker.connecting", "command.failed"]
    assert "cannot connect" in lines[-1]["message"] and lines[-1]["level"] == "error"


@pytest.mark.parametrize(("args", "env", "expected"), [
    (["--log-format", "xml"], {}, "'xml' is not one of text, json"),
    ([], {"PGTASK_LOG_FORMAT": "yaml"}, "PGTASK_LOG_FORMAT='yaml' is not one of text, json"),
    ([], {"PGTASK_LOG_LEVEL": "loud"}, "PGTASK_LOG_LEVEL='loud' is not one of debug"),
])
def test_a_wrong_format_or_level_is_a_usage_error(args, env, expected):
    for command in ("worker", "serve"):
        result = run(command, *args, "--dsn", "host=/nonexistent dbname=x", extra_env=env)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr, result.stderr
