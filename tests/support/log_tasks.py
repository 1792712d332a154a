"""A handler that keeps logging until cancelled, for the streamed-log tests (item 6).

    logs.ticks   a sync handler (it runs on a thread): logs "tick 1", "tick 2", ... every 0.1 s
"""

from __future__ import annotations

import time

import pgtask

registry = pgtask.Registry()


@registry.task("logs.ticks")
def ticks(task):
    n = 0
    while not task.cancelled and n < 6000:
        n += 1
        task.logger.info("tick %d", n)
        time.sleep(0.1)
    return {"ticks": n}
