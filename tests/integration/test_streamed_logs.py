"""Item 6: a handler's log lines reach the database while the task runs, and a kill -9 of the
worker loses at most the last batch (tests/mysql/test_streamed_logs_mysql.py: the same on
MySQL/MariaDB)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

import pgtask
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.slow

# query(sql) -> rows as dicts; sql names tables as {task_logs} and {all_tasks}
Query = Callable[..., list[dict]]


def log_worker(spawn_on: Callable[..., WorkerProcess], dsn: str) -> WorkerProcess:
    """`pgtask worker` also running tests/support/log_tasks.py (spawn_on stops it at the end)."""
    return spawn_on(dsn, "--handlers", "tests.support.log_tasks", "--poll-interval", "0.2s")


def assert_logs_stream_and_survive_kill_9(worker: WorkerProcess, task_id: int,
                                          query: Query) -> None:
    def ticks() -> list[str]:
        rows = query("select message from {task_logs} where task_id = %s order by at", task_id)
        return [r["message"] for r in rows]

    def ages() -> list[float]:
        """Seconds since each stored line was written (the worker and the database share
        this machine's clock)."""
        rows = query("select at from {task_logs} where task_id = %s", task_id)
        now = query("select current_timestamp(6) as now")[0]["now"]
        return [abs((now - r["at"]).total_seconds()) for r in rows]

    wait_until(lambda: len(ticks()) >= 3, timeout=20, message="lines stored while it runs")
    state = query("select state from {all_tasks} where id = %s", task_id)[0]["state"]
    assert state == "running"
    # Within about a second: at some moment the newest stored line is under 1.5 s old (one
    # sample could land on a loaded machine's hiccup).
    wait_until(lambda: min(ages()) < 1.5, timeout=10, message="a line stored within ~1 s")

    seen = ticks()
    worker.kill()  # SIGKILL: no final flush
    after = ticks()
    assert after[:len(seen)] == seen  # everything stored before the kill is still there
    assert after == [f"tick {n}" for n in range(1, len(after) + 1)]  # in order, no gaps


def test_log_lines_reach_the_database_while_the_task_runs_and_survive_kill_9(dsn, spawn_on):
    with psycopg.connect(dsn, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        def query(text: str, *params: object) -> list[dict]:
            text = text.format(task_logs="pgtask.task_logs", all_tasks="pgtask.all_tasks")
            text = text.replace("current_timestamp(6)", "clock_timestamp()")
            return conn.execute(text.replace("state from", "state::text from"),
                                params).fetchall()

        task_id = pgtask.enqueue(conn, "logs.ticks", {})
        assert_logs_stream_and_survive_kill_9(log_worker(spawn_on, dsn), task_id, query)
