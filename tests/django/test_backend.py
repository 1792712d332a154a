"""The Django Tasks backend against a real Django project (tests/django/project, built on
examples/django) on this test's own Postgres database: enqueue on Django's connection inside
its transaction, a worker started from Django settings, results through get_result."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from tests.django.conftest import ROOT, SETTINGS, SIGNALS_ENV, django_env, run_scenario
from tests.support.waiting import SCALE

WAIT = str(20 * SCALE)  # seconds (the scenario polls; it returns as soon as every task finished)


def _runnable(enqueued: dict) -> list[str]:
    return [enqueued["added"]["id"], enqueued["receipt"], enqueued["failing"],
            enqueued["flaky"], enqueued["async"], enqueued["urgent"]["id"],
            enqueued["aenqueued"], enqueued["plain"], enqueued["not_json"]]


def check_scenario(env: dict, db, start_worker, signals: Path,
                   python: str = sys.executable) -> dict:
    """Rollback -> no task; commit -> a `pgtask worker --django` runs it; the results, and
    the task signals the worker sent (recorded to `signals` by tests/django/project)."""
    env = {**env, SIGNALS_ENV: str(signals)}
    enqueued = run_scenario(env, "enqueue", python=python)
    # Inside the atomic block the task was visible on Django's connection; rolled back, gone.
    assert enqueued["seen_inside"] == "READY"
    assert enqueued["after_rollback"] == "does not exist"
    assert db.execute("select count(*) as n from pgtask.all_tasks where id = %s",
                      (int(enqueued["rolled_back"]),)).fetchone()["n"] == 0
    assert enqueued["added"]["status"] == "READY"
    assert enqueued["added_read"]["args"] == [2, 3]
    assert enqueued["aget"] == "READY"

    start_worker([python, "-m", "pgtask", "worker", "--django", SETTINGS,
                  "--log-format", "json"], env)
    results = run_scenario(env, "wait", WAIT, *_runnable(enqueued), python=python)
    added = results[enqueued["added"]["id"]]
    assert (added["status"], added["return_value"], added["attempts"]) == ("SUCCESSFUL", 5, 1)
    assert added["worker_ids"][0].count(":") == 2  # host:pid:suffix, the pgtask worker id
    assert added["started_at"] and added["finished_at"] and added["last_attempted_at"]
    receipt = results[enqueued["receipt"]]
    assert receipt["return_value"] == {"order": 7, "sent_to": "a@example.com"}
    assert (receipt["queue"], receipt["priority"]) == ("emails", 50)

    failing = results[enqueued["failing"]]
    assert (failing["status"], failing["attempts"]) == ("FAILED", 2)  # MAX_ATTEMPTS 2
    assert [e["exception_class_path"] for e in failing["errors"]] == ["builtins.RuntimeError"] * 2
    assert "card declined for order 7" in failing["errors"][0]["traceback"]
    assert "Traceback" in failing["errors"][0]["traceback"]

    flaky = results[enqueued["flaky"]]  # takes_context: context.attempt counts attempts
    assert flaky["status"] == "SUCCESSFUL"
    assert flaky["return_value"] == {"order": 8, "attempt": 2}
    assert [e["exception_class_path"] for e in flaky["errors"]] == ["builtins.ConnectionError"]
    assert results[enqueued["async"]]["return_value"] == "notified 9"
    assert results[enqueued["aenqueued"]]["return_value"] == 10
    assert results[enqueued["plain"]]["return_value"] == 42  # kwargs absent: {}
    assert (results[enqueued["not_json"]]["status"], results[enqueued["not_json"]]["attempts"]) \
        == ("FAILED", 1)  # a set is no JSON: dead at once

    # Deferred an hour: still waiting after everything else ran.
    deferred = run_scenario(env, "wait", "0", enqueued["deferred"]["id"], python=python)
    assert deferred[enqueued["deferred"]["id"]]["status"] == "READY"
    rows = {r["id"]: r for r in db.execute(
        "select id, priority, queue, run_at, created_at from pgtask.all_tasks")}
    assert rows[int(enqueued["receipt"])]["priority"] == 500  # Django 50 -> pgtask 500
    assert rows[int(enqueued["urgent"]["id"])]["priority"] == -1000
    late = rows[int(enqueued["deferred"]["id"])]
    assert late["queue"] == "emails"
    assert late["run_at"] - late["created_at"] > timedelta(minutes=59)
    assert datetime.fromisoformat(enqueued["deferred"]["run_after"]) == late["run_at"]
    check_signals(enqueued, signals, start_worker, {r["api"] for r in results.values()})
    return results


def check_signals(enqueued: dict, signals: Path, start_worker, api: set[str]) -> None:
    """task_started then task_finished around every attempt, though a receiver raised."""
    sent: dict[str, list[tuple]] = {}
    text = signals.read_text() if signals.exists() else ""  # before: no receiver ever ran
    lines = [json.loads(line) for line in text.splitlines()]
    for s in lines:
        sent.setdefault(s["id"], []).append(
            (s["signal"], s["status"], s["attempts"], s["errors"], s.get("return_value")))
    assert {s["sender"] for s in lines} == {"pgtask.contrib.django.backend.PgTaskBackend"}
    assert all(s["started"] and s["finished"] == (s["signal"] == "finished") for s in lines)
    assert {len(s["worker_ids"]) for s in lines} == {1, 2}
    assert {s["api"] for s in lines} == api  # django.tasks on Django 6, else the backport
    assert sent[enqueued["added"]["id"]] == [("started", "RUNNING", 1, [], None),
                                            ("finished", "SUCCESSFUL", 1, [], 5)]
    gateway = "builtins.ConnectionError"
    assert sent[enqueued["flaky"]] == [  # failed and retried: FAILED, then a second attempt
        ("started", "RUNNING", 1, [], None), ("finished", "FAILED", 1, [gateway], None),
        ("started", "RUNNING", 2, [gateway], None),
        ("finished", "SUCCESSFUL", 2, [gateway], {"order": 8, "attempt": 2})]
    declined = "builtins.RuntimeError"
    assert sent[enqueued["failing"]] == [
        ("started", "RUNNING", 1, [], None), ("finished", "FAILED", 1, [declined], None),
        ("started", "RUNNING", 2, [declined], None),
        ("finished", "FAILED", 2, [declined, declined], None)]
    assert sent[enqueued["async"]] == [("started", "RUNNING", 1, [], None),  # async def
                                       ("finished", "SUCCESSFUL", 1, [], "notified 9")]
    assert sent[enqueued["not_json"]] == [("started", "RUNNING", 1, [], None),  # pgtask: dead
                                          ("finished", "FAILED", 1, ["builtins.TypeError"], None)]
    # The receiver that raised on every signal was logged, by event name, and ignored.
    [worker] = start_worker.started
    records = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    failed = [r for r in records if r["event"] == "django.receiver_failed"]
    added = [r for r in failed if r.get("task_id") == int(enqueued["added"]["id"])]
    assert [r["message"].split(" receiver")[0] for r in added] == ["task_started",
                                                                   "task_finished"]
    assert "receiver boom for task" in added[0]["message"]
    assert added[0]["level"] == "error" and added[0]["attempt"] == 1


def test_rollback_commit_run_and_results(dsn, db, start_worker, tmp_path):
    results = check_scenario(django_env(dsn), db, start_worker, tmp_path / "signals.jsonl")
    assert {r["django"] for r in results.values()} == {__import__("django").__version__}
    assert {r["api"] for r in results.values()} == {"django_tasks.base"}


def test_management_command_honours_priority_and_queue(dsn, db, start_worker):
    env = django_env(dsn)
    ids = run_scenario(env, "ordered")
    start_worker([sys.executable, "-m", "django", "pgtask_worker", "--queue", "default",
                  "--concurrency", "1"], env)
    results = run_scenario(env, "wait", WAIT, ids["low"], ids["mid"], ids["high"])
    assert [results[ids[k]]["return_value"] for k in ("low", "mid", "high")] == [1, 2, 3]
    # One at a time (each claimed in its own transaction), higher priority first.
    started = [results[ids[k]]["started_at"] for k in ("high", "mid", "low")]
    assert started[0] < started[1] < started[2]
    # Django's connection is closed after each task (CONN_MAX_AGE 0), as Django does after
    # each request: the second task, on the same handler thread, gets a new one.
    pids = run_scenario(env, "wait", WAIT, *ids["pids"])
    assert len({pids[i]["return_value"] for i in ids["pids"]}) == 2
    running = run_scenario(env, "wait", WAIT, ids["running"])[ids["running"]]
    assert running["return_value"] == {"id": ids["running"], "status": "RUNNING",
                                       "attempt": 1, "started": True, "finished": False}
    # Async tasks reach the database through sync_to_async (as the async ORM does); the
    # sync ORM called straight from one fails it with Django's own clear exception.
    done = run_scenario(env, "wait", WAIT, ids["async_pid"], ids["async_sync_orm"])
    assert isinstance(done[ids["async_pid"]]["return_value"], int)
    refused = done[ids["async_sync_orm"]]
    assert refused["status"] == "FAILED"
    assert refused["errors"][-1]["exception_class_path"] == \
        "django.core.exceptions.SynchronousOnlyOperation"
    skipped = run_scenario(env, "wait", "0", ids["emails"])  # a queue this worker skips
    assert skipped[ids["emails"]]["status"] == "READY"


def test_validate_task_says_how_to_fix(dsn):
    said = run_scenario(django_env(dsn), "invalid")
    assert "rename the function or its module" in said["capital"]
    assert "tests.django.project.badnames.SendEmail" in said["capital"]
    assert "invalid queue 'Bad Queue'" in said["queue_name"]
    assert "not valid for backend" in said["unlisted_queue"]  # Django's own QUEUES check
    assert "aware" in said["naive_run_after"]
    assert "django.db.backends.postgresql" in said["mysql"]
    assert "mysqlclient" in said["mysql"]
    assert said["fine"] == "accepted"
    assert "invalid queue 'Bad Queue'" in said["bad_queues"]
    assert said["unknown_ids"] == ["999999", "x1", "99999999999999999999", said["foreign"]]
    cancelled = said["cancelled"]  # Django has no "cancelled": failed, the reason its error
    assert cancelled["status"] == "FAILED"
    assert cancelled["errors"] == [{"exception_class_path": "pgtask.errors.Cancel",
                                    "traceback": "not wanted"}]


def test_system_check_reports_an_unsupported_database(dsn):
    done = subprocess.run([sys.executable, "-m", "django", "check"], env=django_env(dsn),
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "TASKS['onmysql']: (pgtask.E001) DATABASES['legacy'] has ENGINE" in done.stderr
    assert "TASKS['default']" not in done.stderr
