"""JSON log lines keep the worker's secrets out as its text lines do (issue 18 item 3).

A handler quotes the worker's DSN password and its webhook signing secret in its own log
lines (through its own logger, with a traceback), in a task log line and in the error it
fails with; the worker is started with a DSN that carries the password and that secret.
None of the JSON lines holds either; the messages still say what happened. Trust
authentication on the test server ignores the password, so any serves.

Before: --log-format does not exist (usage error). The handler's own logger was not
scrubbed in text output either: the root handler filter is new.
"""

from __future__ import annotations

import base64

import pytest

from tests.logging.procs import Pgtask
from tests.support.waiting import wait_until

PASSWORD = "Trust-Ignores-Th1s-pw"
WHSEC = "whsec_" + base64.b64encode(bytes(range(32))).decode()
SECRETS = (PASSWORD, WHSEC, WHSEC.removeprefix("whsec_"))


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_no_secret_reaches_a_log_line(dsn, db, fmt):
    secret_dsn = f"{dsn} password={PASSWORD}"
    task_id = db.execute("select pgtask.enqueue_task('logs.leaky', queue => 'logq') as id"
                         ).fetchone()["id"]
    worker = Pgtask("worker", "--dsn", secret_dsn, "--handlers", "tests.logging.flaky_tasks",
                    "--http-targets", "--queue", "logq", "--log-format", fmt,
                    extra_env={"LEAK_DSN": secret_dsn, "PGTASK_HTTP_SECRETS": WHSEC})
    try:
        wait_until(lambda: db.execute("select state from pgtask.all_tasks where id = %s",
                                      (task_id,)).fetchone()["state"] == "dead",
                   timeout=30, message="logs.leaky to be dead")
    finally:
        worker.stop()
    text = worker.text()
    for secret in SECRETS:
        assert secret not in text, f"{secret} logged:\n{text}"
    assert "[redacted]" in text and "about to fail: connecting with" in text
    if fmt == "json":
        lines = worker.lines()
        own = [line for line in lines if line["logger"] == "app.flaky"]
        assert [line["event"] for line in own] == ["log", "log"]
        assert own[1]["exc_type"] == "ConnectionError" and "[redacted]" in own[1]["exc"]
        assert all(line["task_id"] == task_id for line in own)
        (stored,) = [line for line in lines if line["event"] == "task.log"]
        assert stored["task_id"] == task_id and "[redacted]" in stored["message"]
