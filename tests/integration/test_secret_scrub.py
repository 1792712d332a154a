"""The worker scrubs its own secrets from what it stores and logs (issue 15 item 5).

A handler's exception (and its task log lines) quote the worker's DSN password, the
Authorization value configured for HTTP targets and the signing key: none of them reaches
the task's stored errors, its log lines, or the worker's log output. Trust authentication
on the test server ignores the password, so any password serves.
"""

from __future__ import annotations

import base64
import logging

import pytest

import pgtask
from pgtask.signing import SigningSecret
from pgtask.worker.http.config import HttpConfig
from pgtask.worker.http.targets import HttpTargets
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until

PASSWORD = "Trust-Ignores-Th1s-pw"
TOKEN = "tok_9f3kZq71bXw0"
KEY = bytes(range(32))
WHSEC = "whsec_" + base64.b64encode(KEY).decode()
SECRETS = (PASSWORD, TOKEN, WHSEC, base64.b64encode(KEY).decode())


def registry(dsn: str) -> pgtask.Registry:
    reg = pgtask.Registry()
    leak = f"connecting with {dsn}; Authorization: Bearer {TOKEN}; signing with {WHSEC}"

    @reg.task("leaky.permanent", max_attempts=1)
    async def permanent(task):
        task.logger.info("about to fail: %s", leak)
        raise pgtask.Permanent(leak)

    @reg.task("leaky.crash", max_attempts=1)
    def crash(task):
        raise RuntimeError(leak + f" url=postgresql://u:{PASSWORD}@h/db")

    return reg


@pytest.fixture
def secret_dsn(dsn: str) -> str:
    return f"{dsn} password={PASSWORD}"


def test_stored_errors_logs_and_log_output_hold_no_secret(secret_dsn, db, caplog):
    targets = HttpTargets(HttpConfig(secrets=(SigningSecret(KEY),),
                                     headers={"authorization": f"Bearer {TOKEN}"}))
    ids = [db.execute("select pgtask.enqueue_task(%s, max_attempts => 1) as id",
                      (name,)).fetchone()["id"]
           for name in ("leaky.permanent", "leaky.crash")]
    with caplog.at_level(logging.INFO), running_worker(secret_dsn, registry(secret_dsn),
                                                       targets=targets):
        wait_until(lambda: db.execute(
            "select count(*) as n from pgtask.task_history where id = any(%s) "
            "and state = 'dead'", (ids,)).fetchone()["n"] == 2,
            message="both leaky tasks to be dead")
    stored = db.execute("select message, errors::text as errors from pgtask.all_tasks "
                        "where id = any(%s)", (ids,)).fetchall()
    lines = db.execute("select message from pgtask.task_logs where task_id = any(%s)",
                       (ids,)).fetchall()
    assert lines, "the handler's log line is stored"
    stored_text = repr(stored) + repr(lines)
    assert "[redacted]" in stored_text, stored_text
    assert "Authorization: " in stored_text and "signing with" in stored_text, "the rest stays"
    for secret in SECRETS:
        assert secret not in stored_text, f"{secret} stored: {stored_text}"
        assert secret not in caplog.text, f"{secret} logged: {caplog.text}"
