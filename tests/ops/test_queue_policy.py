"""Queue policy through the CLI, on either backend (issue 16: item 3's default burst, item
9's `queue pause` of an unused queue, item 11's `queue pause --wait` and max run time)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

PGTASK = Path(sys.executable).with_name("pgtask")


def seconds(value: timedelta | float | None) -> float | None:
    """A duration column as seconds (an interval on Postgres, a number on MySQL)."""
    return value.total_seconds() if isinstance(value, timedelta) else value


def test_a_rate_without_a_burst_comes_with_one_seconds_worth(run_cli, backend):
    dsn = backend.dsn
    result = run_cli("queue", "set", "mail", "--rate", "5/s", "--dsn", dsn)
    assert result.code == 0, result.err
    assert "5/s b5" in result.out
    assert backend.queue_row("mail")["rate_burst"] == 5
    run_cli("queue", "set", "mail", "--rate", "2.5/s", "--burst", "1", "--dsn", dsn)
    assert backend.queue_row("mail")["rate_burst"] == 1  # given with the rate: it wins
    run_cli("queue", "set", "mail", "--burst", "3", "--dsn", dsn)
    row = backend.queue_row("mail")
    assert (row["rate_limit"], row["rate_burst"]) == (2.5, 3)  # the rate untouched
    run_cli("queue", "set", "slow", "--rate", "10/m", "--dsn", dsn)
    assert backend.queue_row("slow")["rate_burst"] == 1  # at least one token


def test_pause_of_a_queue_never_used_creates_it_paused(run_cli, backend):
    result = run_cli("queue", "pause", "later", "--dsn", backend.dsn)
    assert (result.code, result.out.strip()) == (0, "queue later paused")
    assert backend.queue_row("later")["paused"]
    task_id = backend.enqueue("later")
    assert backend.store.run(backend.store.store.claim(None, "w1", 10, None)) == []
    assert backend.states_by_id()[task_id] == ("later", "queued")
    bad = run_cli("queue", "pause", "Not A Name", "--dsn", backend.dsn)
    assert bad.code == 2


def test_max_run_time_is_set_shown_and_cleared(run_cli, backend):
    dsn = backend.dsn
    result = run_cli("queue", "set", "mail", "--max-run-time", "10m", "--dsn", dsn)
    assert result.code == 0, result.err
    assert "MAX RUN" in result.out and "10m" in result.out
    assert seconds(backend.queue_row("mail")["max_run_time"]) == 600
    assert "10m" in run_cli("queue", "ls", "--dsn", dsn).out
    run_cli("queue", "set", "mail", "--max-run-time", "none", "--dsn", dsn)
    assert backend.queue_row("mail")["max_run_time"] is None
    refused = run_cli("queue", "set", "mail", "--max-run-time", "500ms", "--dsn", dsn)
    assert refused.code == 2
    assert "max_run_time must be from 1 second to 365 days, got 00:00:00.5" in refused.err


def pause_and_wait(dsn: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(PGTASK), "queue", "pause", "mail", "--wait", *args,
                             "--dsn", dsn], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_pause_wait_returns_when_the_running_tasks_are_done(backend):
    running = [backend.make("running", queue="mail") for _ in range(2)]
    waiter = pause_and_wait(backend.dsn)
    wait_until(lambda: backend.queue_row("mail")["paused"], message="the pause")
    assert waiter.poll() is None  # two tasks still run
    for task_id in running:  # they end (here: cancelled; a worker would finish them)
        backend.operator.cancel_tasks([task_id], "done for the test")
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    assert "queue mail paused; 2 task(s) were running, all done" in out


def test_pause_wait_times_out_with_exit_1_and_says_how_many_still_run(backend):
    backend.make("running", queue="mail")
    waiter = pause_and_wait(backend.dsn, "--timeout", "1s")
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 1, err
    assert "1 task(s) were running, 1 still running after" in out and "timed out" in out


@pytest.mark.parametrize("args", [("--timeout", "1s")])
def test_timeout_without_wait_is_a_usage_error(run_cli, backend, args):
    assert run_cli("queue", "pause", "mail", *args, "--dsn", backend.dsn).code == 2
