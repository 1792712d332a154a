"""The worker scrubs its own secrets from what it stores and logs (issue 15 item 5).

A handler's exception (and its task log lines) quote the worker's DSN password, the
Authorization value configured for HTTP targets and the signing key: none of them reaches
the task's stored errors, its log lines, or the worker's log output. Trust authentication
on the test server ignores the password, so any password serves.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading

import pytest

import pgtask
from pgtask import Worker, WorkerConfig
from pgtask.signing import SigningSecret
from pgtask.worker.http.config import HttpConfig
from pgtask.worker.http.targets import HttpTargets
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


def run_worker(dsn: str, targets: HttpTargets, stop: threading.Event,
               failure: list[BaseException]) -> None:
    async def main() -> None:
        worker = Worker(dsn, registry(dsn), WorkerConfig(retention=None), targets=targets)
        running = asyncio.create_task(worker.run())
        while not stop.is_set() and not running.done():
            await asyncio.sleep(0.05)
        worker.stop()
        await running

    try:
        asyncio.run(main())
    except BaseException as exc:  # surfaced to the test
        failure.append(exc)
        stop.set()


@pytest.fixture
def secret_dsn(dsn: str) -> str:
    return f"{dsn} password={PASSWORD}"


def test_stored_errors_logs_and_log_output_hold_no_secret(secret_dsn, db, caplog):
    targets = HttpTargets(HttpConfig(secrets=(SigningSecret(KEY),),
                                     headers={"authorization": f"Bearer {TOKEN}"}))
    if hasattr(targets, "use_database_id"):  # webhook-ids scoped by database (issue 15)
        targets.use_database_id("test-database")
    ids = [db.execute("select pgtask.enqueue_task(%s, max_attempts => 1) as id",
                      (name,)).fetchone()["id"]
           for name in ("leaky.permanent", "leaky.crash")]
    stop, failure = threading.Event(), []
    with caplog.at_level(logging.INFO):
        thread = threading.Thread(target=run_worker, args=(secret_dsn, targets, stop, failure))
        thread.start()
        try:
            wait_until(lambda: failure or db.execute(
                "select count(*) as n from pgtask.task_history where id = any(%s) "
                "and state = 'dead'", (ids,)).fetchone()["n"] == 2,
                message="both leaky tasks to be dead")
        finally:
            stop.set()
            thread.join(30)
    assert not failure, failure
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
