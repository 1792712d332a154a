"""What the worker does with a notification: treat it as a hint, never as a command.

Any database role may NOTIFY any channel (Postgres has no privilege for it), so a
notification only makes the worker ask the database sooner: a new-task hint wakes the claim
loop, a cancel hint makes the heartbeat renew now, and only the database's answer (the lease
no longer held) stops a run. A payload that is not what the channel carries is logged, as
data, and ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from pgtask.worker.listener import CANCEL_CHANNEL
from pgtask.worker.runs import Runs

log = logging.getLogger("pgtask.worker")


class Hints:
    """The listener's on_notify for one worker."""

    def __init__(self, queues: Sequence[str] | None, runs: Runs, wake: Callable[[], None],
                 beat_now: asyncio.Event) -> None:
        self._queues = None if queues is None else set(queues)
        self._runs = runs
        self._wake = wake
        self._beat_now = beat_now

    def __call__(self, channel: str, payload: str) -> None:
        if channel != CANCEL_CHANNEL:
            if self._queues is None or payload in self._queues:
                self._wake()
            return
        task_id = int(payload) if payload.isascii() and payload.isdigit() else None
        if task_id is None:
            log.warning("ignored a %s notification whose payload is not a task id: %.80r",
                        CANCEL_CHANNEL, payload, extra={"event": "notify.ignored"})
            return
        runs = self._runs.of_task(task_id)
        for run in runs:
            run.cancel_asked = True
        if runs:
            self._beat_now.set()
