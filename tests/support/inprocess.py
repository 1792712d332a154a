"""Run a Worker in a background thread with its own event loop, for in-process tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pgtask import Registry, Worker, WorkerConfig
from pgtask.worker.http.targets import HttpTargets


@contextmanager
def running_worker(dsn: str, registry: Registry, targets: HttpTargets | None = None,
                   **config) -> Iterator[Worker]:
    config.setdefault("retention", None)
    worker = Worker(dsn, registry, WorkerConfig(**config), targets=targets)
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(worker.run())
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)

    thread = threading.Thread(target=run, name="pgtask-test-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        loop.call_soon_threadsafe(worker.stop)
        thread.join(30)
        assert not thread.is_alive(), "worker did not stop within 30s"
        loop.close()
    if failure:
        raise failure[0]
