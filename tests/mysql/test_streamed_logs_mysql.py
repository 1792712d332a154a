"""Item 6 on MySQL/MariaDB: a handler's log lines are stored while the task runs and survive
a kill -9 of the worker (tests/integration/test_streamed_logs.py says how)."""

from __future__ import annotations

from datetime import UTC

import pymysql
import pytest

import pgtask
from pgtask.store.mysql.store import connect
from tests.integration.test_streamed_logs import assert_logs_stream_and_survive_kill_9, log_worker

pytestmark = pytest.mark.slow


def test_log_lines_reach_mysql_while_the_task_runs_and_survive_kill_9(mysql_dsn, spawn_on):
    conn = connect(mysql_dsn, autocommit=True, cursorclass=pymysql.cursors.DictCursor)
    try:
        def query(text: str, *params: object) -> list[dict]:
            text = text.format(task_logs="pgtask_task_logs", all_tasks="pgtask_all_tasks")
            text = text.replace("current_timestamp(6)", "utc_timestamp(6)")
            with conn.cursor() as cur:
                cur.execute(text, params)
                return [{k: v.replace(tzinfo=UTC) if hasattr(v, "tzinfo") else v
                         for k, v in row.items()} for row in cur.fetchall()]

        task_id = pgtask.enqueue(conn, "logs.ticks", {})
        assert_logs_stream_and_survive_kill_9(log_worker(spawn_on, mysql_dsn), task_id, query)
    finally:
        conn.close()
