"""A scheduler in a process of its own, for kill -9 tests: python -m ... DSN.

Its connection carries application_name sched-<pid>, so a test can tell which process
holds the leadership lock. SIGTERM stops it cleanly.
"""

import asyncio
import os
import signal
import sys

from pgtask.worker.scheduler import run_scheduler


async def main(dsn: str) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await run_scheduler(f"{dsn} application_name=sched-{os.getpid()}", stop, tick=0.2)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
