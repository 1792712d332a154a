"""HTTP targets (placeholder): runs bench/http_dispatch.py when it is there.

http_dispatch.py (owned by the HTTP-targets work) measures the dispatcher alone against a
local no-op server, without a database; its result line is parsed here. End to end through
`pgtask worker` (1 and 2 processes, tasks with a target_url) is still to come: add it
here once workers dispatch HTTP targets.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import measure

SCRIPT = os.path.join(measure.BENCH_DIR, "http_dispatch.py")
RATE = re.compile(r"([\d,.]+) dispatches/s")
CPU = re.compile(r"([\d,.]+) us of dispatcher CPU")


def available() -> bool:
    return os.path.exists(SCRIPT)


def http_once(n: int) -> dict:
    done = subprocess.run([sys.executable, SCRIPT, "--tasks", str(n)], cwd=measure.BENCH_DIR,
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(f"http_dispatch.py failed:\n{done.stderr[-2000:]}")
    rate, cpu = RATE.search(done.stdout), CPU.search(done.stdout)
    if not rate:
        raise RuntimeError(f"no 'dispatches/s' in http_dispatch.py output: {done.stdout!r}")
    return {"tasks_per_s": float(rate.group(1).replace(",", "")),
            "worker_us_per_task": float(cpu.group(1).replace(",", "")) if cpu else None,
            "line": done.stdout.strip().splitlines()[-1]}
