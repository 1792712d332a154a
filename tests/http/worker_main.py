"""A worker process serving HTTP queues, for the end-to-end tests:

    python -m tests.http.worker_main DSN CONCURRENCY [fast-aimd]

It is pgtask's Worker with HttpTargets (as `pgtask worker` builds it), plus a faster
AIMD and shorter intervals for the tests. It registers a handler for the test task type
that fails loudly if an HTTP task ever reaches it. SIGTERM stops it gracefully.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pgtask import Registry, Worker, WorkerConfig
from pgtask.worker.http import HttpConfig
from pgtask.worker.http.targets import HttpTargets
from pgtask.worker.http.throttle import AimdSettings

registry = Registry()


@registry.task("orders.created")
def not_http(task):
    raise RuntimeError("an HTTP task reached a Python handler")


def build(dsn: str, concurrency: int, fast_aimd: bool) -> Worker:
    aimd = AimdSettings(increase_fraction=0.5, cooldown=0.5) if fast_aimd else AimdSettings()
    targets = HttpTargets(HttpConfig.from_env(aimd=aimd), refresh_interval=0.5)
    config = WorkerConfig(concurrency=concurrency, poll_interval=0.05, heartbeat_interval=1.0)
    return Worker(dsn, registry, config, targets=targets)


async def main(argv: list[str]) -> None:
    worker = build(argv[0], int(argv[1]), "fast-aimd" in argv[2:])
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.stop)
    await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")
    asyncio.run(main(sys.argv[1:]))
