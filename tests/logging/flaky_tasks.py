"""Handlers for the JSON log tests, run by a `pgtask worker` subprocess.

    logs.flaky   a sync handler (on a thread): logs a line through its own logger, then fails
                 on its first attempt and succeeds on the next
    logs.leaky   fails for good, and logs, with the worker's DSN (LEAK_DSN) and webhook secret
                 (PGTASK_HTTP_SECRETS) in its messages and tracebacks
"""

from __future__ import annotations

import logging
import os

import pgtask

registry = pgtask.Registry()
log = logging.getLogger("app.flaky")  # the handler's own logger, as an application has


@registry.task("logs.flaky", queue="logq", max_attempts=3)
def flaky(task):
    log.info("handling attempt %d", task.attempt)
    if task.attempt == 1:
        raise RuntimeError("first attempt fails on purpose")
    return {"ok": True}


@registry.task("logs.leaky", queue="logq", max_attempts=1)
def leaky(task):
    leak = (f"connecting with {os.environ['LEAK_DSN']}; "
            f"signing with {os.environ['PGTASK_HTTP_SECRETS']}")
    log.warning("about to fail: %s", leak)
    task.logger.info("stored line: %s", leak)
    try:
        raise ConnectionError(leak)
    except ConnectionError:
        log.exception("could not connect")
    raise pgtask.Permanent(leak)
