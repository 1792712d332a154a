"""--processes P: run P worker processes, restart any that crash, forward signals.

Python needs processes to use more than one core. Each child is a plain
`python -m pgtask worker ... --processes 1`; the supervisor holds no database connection.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from pgtask.retry import reconnect_delay

log = logging.getLogger("pgtask.worker.supervisor")


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the supervisor dies, even by SIGKILL (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: children outlive a killed supervisor, leases recover their tasks


class Supervisor:
    def __init__(self, child_args: list[str], processes: int) -> None:
        self.command = [sys.executable, "-m", "pgtask", *child_args, "--processes", "1"]
        self.processes = processes
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.restarts: dict[int, int] = {}
        self.signals = 0

    def _spawn(self, slot: int) -> None:
        env = {**os.environ, "PGTASK_WORKER_INDEX": str(slot)}  # e.g. metrics port + slot
        self.children[slot] = subprocess.Popen(self.command, preexec_fn=_die_with_parent, env=env)
        log.info("started worker process %d (pid %d)", slot, self.children[slot].pid)

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        self.signals += 1
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signum)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._forward)
        for slot in range(self.processes):
            self._spawn(slot)
        failed = False
        while self.children:
            for slot, child in list(self.children.items()):
                code = child.poll()
                if code is None:
                    continue
                del self.children[slot]
                if self.signals:
                    failed |= code != 0
                    continue
                delay = reconnect_delay(self.restarts.get(slot, 0), base=0.5, cap=30.0)
                self.restarts[slot] = self.restarts.get(slot, 0) + 1
                log.warning("worker process %d exited with code %s; restarting in %.1fs",
                            slot, code, delay)
                time.sleep(delay)
                if not self.signals:
                    self._spawn(slot)
            time.sleep(0.1)  # supervising loop tick; children do the work
        return 1 if failed else 0
