"""--processes P: run P worker processes, restart any that crash, forward signals.

Python needs processes to use more than one core. Each child is a plain
`python -m pgtask worker ... --processes 1`; the supervisor holds no database connection.

A child that exits 2 refused to start (it printed why: a wrong DSN, an unmigrated or newer
schema, a setting that makes progress impossible): restarting it cannot help, so the
supervisor stops the others and exits 2 too, unless that slot has served before (then the
refusal is likely an outage, e.g. the server restarting, and restarts go on with back-off).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from pgtask.retry import reconnect_delay

log = logging.getLogger("pgtask.worker.supervisor")

REFUSED = 2  # a worker's exit status when it will not start (pgtask.cli.main)
HEALTHY_AFTER = 60.0  # seconds: a child that ran this long crashed afresh, not in a row
TICK = 0.1  # seconds between looks at the children; they do the work


@dataclass(frozen=True, slots=True)
class Decision:
    stop: bool  # the child refused to start: stop everything, exit REFUSED
    crashes: int  # crashes in a row of this slot, this one included
    delay: float  # seconds before the restart


def after_exit(code: int, crashes: int, ran_for: float, served: bool,
               healthy_after: float = HEALTHY_AFTER,
               rng: Callable[[], float] = random.random) -> Decision:
    """What to do when a slot's child exits with `code` after `ran_for` seconds.

    crashes: that slot's crashes in a row so far; served: whether any child of the slot ever
    ran `healthy_after`. A child that ran that long starts the count again, so a crash an
    hour after the last one is restarted at once rather than after the longest delay.
    """
    if code == REFUSED and not served and ran_for < healthy_after:
        return Decision(True, crashes, 0.0)
    crashes = 1 if ran_for >= healthy_after else crashes + 1
    return Decision(False, crashes, reconnect_delay(crashes - 1, base=0.5, cap=30.0, rng=rng))


def child_args(argv: list[str]) -> list[str]:
    """The worker's own arguments without --processes (the supervisor sets it to 1)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--processes", "-p"):
            skip = True
        elif not arg.startswith(("--processes=", "-p")):  # -p4 is -p 4
            out.append(arg)
    return out


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the supervisor dies, even by SIGKILL (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: children outlive a killed supervisor, leases recover their tasks


class Supervisor:
    def __init__(self, child_args: list[str], processes: int,
                 healthy_after: float = HEALTHY_AFTER) -> None:
        self.command = [sys.executable, "-m", "pgtask", *child_args, "--processes", "1"]
        self.processes = processes
        self.healthy_after = healthy_after
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.started: dict[int, float] = {}  # slot -> monotonic time of its child's start
        self.crashes: dict[int, int] = {}
        self.served: set[int] = set()
        self.restart_at: dict[int, float] = {}  # slot -> when to start its next child
        self.signals = 0
        self.refused = False

    def _spawn(self, slot: int) -> None:
        env = {**os.environ, "PGTASK_WORKER_INDEX": str(slot)}  # e.g. metrics port + slot
        self.children[slot] = subprocess.Popen(self.command, preexec_fn=_die_with_parent, env=env)
        self.started[slot] = time.monotonic()
        log.info("started worker process %d (pid %d)", slot, self.children[slot].pid,
                 extra={"event": "process.started"})

    def _forward(self, signum: int, _frame: FrameType | None = None) -> None:
        self.signals += 1
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signum)

    def _exited(self, slot: int, code: int) -> None:
        ran_for = time.monotonic() - self.started[slot]
        if ran_for >= self.healthy_after:
            self.served.add(slot)
        decision = after_exit(code, self.crashes.get(slot, 0), ran_for, slot in self.served,
                              self.healthy_after)
        if decision.stop:
            log.error("worker process %d refused to start (exit code %d, its reason is "
                      "above): stopping the other worker processes", slot, code,
                      extra={"event": "process.refused"})
            self.refused = True
            self._forward(signal.SIGTERM)
            return
        self.crashes[slot] = decision.crashes
        self.restart_at[slot] = time.monotonic() + decision.delay
        log.warning("worker process %d exited with code %s after %.1fs; restarting in %.2fs "
                    "(crash %d in a row)", slot, code, ran_for, decision.delay,
                    decision.crashes, extra={"event": "process.exited"})

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._forward)
        for slot in range(self.processes):
            self._spawn(slot)
        failed = False
        while self.children or self.restart_at:
            for slot, child in list(self.children.items()):
                code = child.poll()
                if code is None:
                    continue
                del self.children[slot]
                if self.signals:
                    failed |= code != 0
                    continue
                self._exited(slot, code)
            for slot, at in list(self.restart_at.items()):
                if self.signals:
                    del self.restart_at[slot]
                elif time.monotonic() >= at:
                    del self.restart_at[slot]
                    self._spawn(slot)
            time.sleep(TICK)
        if self.refused:
            return REFUSED
        return 1 if failed else 0
