"""Issue 16, items 9 and 11 (operators' tools), through the CLI on both backends: `ls` one
line per task (--full, --newest, coloured states), retry/cancel saying why per id, delete
and update of a queued task, and the errors list."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pgtask.models import Outcome

from .backends import OpsBackend

TRACEBACK = """ValueError: the invoice total is negative
Traceback (most recent call last):
  File "/app/.venv/lib/pgtask/worker/executor.py", line 101, in _invoke
    return await definition.handler(ctx)
  File "/app/tasks.py", line 12, in charge
    raise ValueError("the invoice total is negative")
ValueError: the invoice total is negative"""


def finish(backend: OpsBackend, kind: str, error: str | None = None, queue: str = "default",
           task_type: str = "t.x") -> int:
    """A task claimed and finished with `kind` (failed: queued again, to retry)."""
    task_id = backend.enqueue(queue, task_type, priority=1000)
    store = backend.store
    [held] = store.run(store.store.claim(None, "w1", 1, None))
    assert held.id == task_id
    store.run(store.store.finish([Outcome(held.id, held.lease_token, kind, error=error)]))
    return task_id


def ls_lines(run_cli, backend: OpsBackend, *args: str) -> list[str]:
    result = run_cli("ls", "--dsn", backend.dsn, *args)
    assert result.code == 0, result.err
    return result.out.splitlines()


def test_ls_shows_one_line_per_task_and_full_shows_the_traceback(run_cli, backend):
    dead = finish(backend, "dead", TRACEBACK)
    lines = ls_lines(run_cli, backend, "--state", "dead")
    assert len(lines) == 2, lines  # the header and the task
    assert lines[1].split()[0] == str(dead)
    assert lines[1].rstrip().endswith("ValueError: the invoice total is negative")
    assert "executor.py" not in "\n".join(lines)  # no frames, pgtask's or the handler's
    full = "\n".join(ls_lines(run_cli, backend, "--state", "dead", "--full"))
    assert "executor.py" in full and 'File "/app/tasks.py", line 12' in full


def test_ls_newest_lists_the_highest_ids_first_in_pages(run_cli, backend):
    ids = [backend.enqueue() for _ in range(5)]
    first = ls_lines(run_cli, backend, "--newest", "--limit", "2")
    assert [line.split()[0] for line in first[1:3]] == [str(ids[4]), str(ids[3])]
    assert first[-1] == f"next page: --before {ids[3]}"
    second = ls_lines(run_cli, backend, "--before", str(ids[3]), "--limit", "2", "--json")
    assert [json.loads(line)["id"] for line in second] == [ids[2], ids[1]]
    refused = run_cli("ls", "--dsn", backend.dsn, "--newest", "--after", "3")
    assert refused.code == 2 and "one or the other" in refused.err


def test_ls_colours_states_on_a_terminal_and_not_with_no_color(run_cli, backend, monkeypatch):
    finish(backend, "dead", "boom")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = run_cli("ls", "--dsn", backend.dsn).out
    assert "\x1b[1;31mdead" in coloured  # bold red
    monkeypatch.setenv("NO_COLOR", "1")  # bold stays (not a colour), red goes
    plain = run_cli("ls", "--dsn", backend.dsn).out
    assert "dead" in plain and "31m" not in plain


def test_retry_and_cancel_exit_1_and_say_why_for_each_id(run_cli, backend):
    queued, done = backend.make("queued"), backend.make("succeeded")
    result = run_cli("retry", "999", str(queued), "--dsn", backend.dsn)
    assert result.code == 1
    assert "task 999: no such task" in result.err
    assert f"task {queued}: is queued; only dead or cancelled tasks can be retried" in result.err
    result = run_cli("cancel", str(done), str(queued), "--dsn", backend.dsn)
    assert result.code == 1 and "cancelled 1 of 2" in result.out
    assert f"task {done}: is succeeded; only queued or running tasks can be cancelled" \
        in result.err


def test_delete_takes_a_queued_task_away_for_good(run_cli, backend):
    queued, running, done = backend.make("queued"), backend.make("running"), backend.make("dead")
    result = run_cli("delete", str(queued), "--dsn", backend.dsn)
    assert result.code == 0 and "deleted 1 of 1" in result.out
    assert queued not in backend.states_by_id()
    result = run_cli("delete", str(running), str(done), "999", "--dsn", backend.dsn)
    assert result.code == 1 and "deleted 0 of 3" in result.out
    assert f"task {running} is running; only a queued task can be deleted" in result.err
    assert f"task {done} has finished; only a queued task can be deleted" in result.err
    assert "task 999: no such task" in result.err
    states = backend.states_by_id()
    assert states[running][1] == "running" and states[done][1] == "dead"


def test_delete_frees_the_idempotency_key(run_cli, backend):
    import pgtask

    first = pgtask.enqueue(backend.conn, "t.x", {}, idempotency_key="order-7")
    assert run_cli("delete", str(first), "--dsn", backend.dsn).code == 0
    again = pgtask.enqueue(backend.conn, "t.x", {}, idempotency_key="order-7")
    assert again != first  # a new task: the key named a task that no longer exists


def test_update_changes_a_queued_task_and_refuses_a_running_one(run_cli, backend):
    queued, running = backend.make("queued"), backend.make("running")
    later = datetime.now(UTC) + timedelta(hours=1)
    result = run_cli("update", str(queued), "--payload", '{"to": "b@c.d"}', "--priority", "7",
                     "--queue", "emails", "--max-attempts", "3", "--run-at", later.isoformat(),
                     "--dsn", backend.dsn)
    assert result.code == 0, result.err
    [row] = backend.rows("select * from pgtask.tasks where id = %s", queued)
    payload = row["payload"] if isinstance(row["payload"], dict) else json.loads(row["payload"])
    assert (payload, row["priority"], row["queue"], row["max_attempts"]) == (
        {"to": "b@c.d"}, 7, "emails", 3)
    run_at = row["run_at"] if row["run_at"].tzinfo else row["run_at"].replace(tzinfo=UTC)
    assert abs(run_at - later) < timedelta(seconds=1)
    assert backend.queue_row("emails")["name"] == "emails"  # the new queue has its row

    refused = run_cli("update", str(running), "--priority", "1", "--dsn", backend.dsn)
    assert refused.code == 1
    assert f"task {running} is running; only a queued task can be updated" in refused.err
    bad = run_cli("update", str(queued), "--priority", "5000", "--dsn", backend.dsn)
    assert bad.code == 1 and "priority" in bad.err
    missing = run_cli("update", "999", "--priority", "1", "--dsn", backend.dsn)
    assert missing.code == 1 and "no task 999" in missing.err
    nothing = run_cli("update", str(queued), "--dsn", backend.dsn)
    assert nothing.code == 2 and "say what to change" in nothing.err


def test_errors_lists_tasks_that_failed_once_in_any_state_newest_first(run_cli, backend):
    retrying = finish(backend, "failed", TRACEBACK, queue="billing")
    dead = finish(backend, "dead", "TimeoutError: took too long")
    backend.make("succeeded")  # never failed: not listed
    backend.make("queued")
    result = run_cli("errors", "--dsn", backend.dsn, "--json")
    assert result.code == 0, result.err
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert [(r["id"], r["state"], r["failures"]) for r in rows] == [
        (dead, "dead", 1), (retrying, "queued", 1)]
    assert rows[1]["error"].startswith("ValueError: the invoice total is negative")
    table = run_cli("errors", "--dsn", backend.dsn).out.splitlines()
    assert len(table) == 3 and table[2].rstrip().endswith(
        "ValueError: the invoice total is negative")
    only = run_cli("errors", "--dsn", backend.dsn, "--queue", "billing", "--json").out
    assert [json.loads(line)["id"] for line in only.splitlines()] == [retrying]
    page = run_cli("errors", "--dsn", backend.dsn, "--before", str(dead), "--json").out
    assert [json.loads(line)["id"] for line in page.splitlines()] == [retrying]


@pytest.mark.parametrize("kind", ["failed", "dead"])
def test_errors_keeps_a_task_that_later_succeeded(run_cli, backend, kind):
    task_id = finish(backend, kind, "boom")
    if kind == "dead":
        assert run_cli("retry", str(task_id), "--dsn", backend.dsn).code == 0
    backend.rows("update pgtask.tasks set run_at = created_at where id = %s", task_id)
    store = backend.store
    [held] = store.run(store.store.claim(None, "w1", 1, None))
    store.run(store.store.finish([Outcome(held.id, held.lease_token, "succeeded")]))
    rows = [json.loads(line) for line in
            run_cli("errors", "--dsn", backend.dsn, "--json").out.splitlines()]
    assert [(r["id"], r["state"]) for r in rows] == [(task_id, "succeeded")]
