"""Unstuck (issue 16, item 11): a handler that hangs while its worker keeps heartbeating is
taken away after its queue's max run time, even though its task type sets no timeout: the
handler is cancelled and the attempt counts as failed, with an error that says why."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.integration.test_queue_limits import queue_set
from tests.support.waiting import wait_until
from tests.support.workers import prepare_chaos


@pytest.mark.slow
def test_a_hung_handler_is_taken_away_after_the_queues_max_run_time(dsn, spawn_on):
    prepare_chaos(dsn)
    queue_set(dsn, "stuck", "--max-run-time", "2s")
    with psycopg.connect(dsn, autocommit=True) as conn:
        task_id = conn.execute(
            "select pgtask.enqueue_task('chaos.run', %s, 'stuck', max_attempts => 1)",
            (Jsonb({"do": "hang"}),)).fetchone()[0]
        worker = spawn_on(dsn, "--queue", "stuck", "--heartbeat-interval", "1s")

        def ended():
            return conn.execute("select state::text, message, attempted_at, finished_at"
                                " from pgtask.task_history where id = %s", (task_id,)).fetchone()

        state, message, claimed, finished = wait_until(ended, timeout=30,
                                                       message="the hung task taken away")
        assert state == "dead"  # its only attempt failed
        assert "ran longer than queue stuck's max_run_time (00:00:02)" in message
        assert finished - claimed >= timedelta(seconds=2)
        wait_until(lambda: conn.execute(
            "select 1 from public.chaos_runs where task_id = %s and attempt = -1",
            (task_id,)).fetchone(), timeout=10, message="the handler to see its cancellation")
    assert worker.proc.poll() is None  # the worker itself carries on
