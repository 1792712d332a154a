"""Sleeping tasks that log every run to a file, for fault tests that take the database away.

    runlog.sleep       {"seconds": 12}   async: sleep, then succeed
    runlog.sleep_sync  {"seconds": 12}   sync: sleep in small steps, stop when ctx.cancelled

Each run appends two lines to the file named by $PGTASK_RUNLOG (nothing is logged without it):

    start <task_id> <attempt> <pid> <time.time()> <run>
    end   <task_id> <attempt> <pid> <time.time()> <ok|cancelled|error> <run>

<run> is unique per run: a released task is claimed again with the same attempt number.
The log never touches the database, which is down during the fault these tests inject (the
chaos handlers record runs in a table and could not). Every line is one O_APPEND write, so
the lines of concurrent runs and processes never interleave. `read_runs` and `summarize`
turn the log into executions and overlaps.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pgtask

ENV = "PGTASK_RUNLOG"
STEP = 0.05  # seconds between the sync handler's looks at ctx.cancelled
registry = pgtask.Registry()
_runs = itertools.count(1)


class RunCancelled(RuntimeError):
    """The sync handler saw ctx.cancelled: raised, so a stale run can never be a success."""


def _append(*fields: object) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    line = (" ".join(str(f) for f in fields) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one write per line: O_APPEND keeps whole lines whole
    finally:
        os.close(fd)


def _start(task) -> str:
    run = f"{os.getpid()}.{next(_runs)}"
    _append("start", task.id, task.attempt, os.getpid(), repr(time.time()), run)
    return run


def _end(task, run: str, how: str) -> None:
    _append("end", task.id, task.attempt, os.getpid(), repr(time.time()), how, run)


@registry.task("runlog.sleep", title="Sleep (logged)", description="Sleeps, logging its run.")
async def sleep(task):
    run = _start(task)
    try:
        await asyncio.sleep(float(task.payload.get("seconds", 1)))
    except asyncio.CancelledError:
        _end(task, run, "cancelled")
        raise
    except BaseException:
        _end(task, run, "error")
        raise
    _end(task, run, "ok")
    return {"pid": os.getpid()}


@registry.task("runlog.sleep_sync", title="Sleep in a thread (logged)")
def sleep_sync(task):
    run = _start(task)
    deadline = time.monotonic() + float(task.payload.get("seconds", 1))
    while time.monotonic() < deadline:
        if task.cancelled:
            _end(task, run, "cancelled")
            raise RunCancelled(f"run {run} of task {task.id} was cancelled")
        time.sleep(STEP)
    _end(task, run, "ok")
    return {"pid": os.getpid()}


# -- reading the log -----------------------------------------------------------------------


@dataclass
class Run:
    task_id: int
    attempt: int
    pid: int
    started: float
    ended: float = math.inf  # never ended (still running, or its process died)
    how: str = "running"

    def overlaps(self, other: Run) -> bool:
        return self.started < other.ended and other.started < self.ended


def read_runs(path: str | Path) -> list[Run]:
    """Every run in the log, in start order."""
    runs: dict[str, Run] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        fields = line.split()
        if fields[0] == "start":
            _, task_id, attempt, pid, at, run = fields
            runs[run] = Run(int(task_id), int(attempt), int(pid), float(at))
        elif fields[0] == "end" and fields[-1] in runs:
            runs[fields[-1]].ended, runs[fields[-1]].how = float(fields[4]), fields[5]
    return sorted(runs.values(), key=lambda r: r.started)


def started_tasks(path: str | Path) -> set[int]:
    return {run.task_id for run in read_runs(path)}


def _most_at_once(runs: list[Run]) -> int:
    edges = sorted([(r.started, 1) for r in runs] + [(r.ended, -1) for r in runs],
                   key=lambda e: (e[0], e[1]))  # an end at the same instant goes first
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


@dataclass
class Summary:
    tasks: int
    executions: int
    per_task: dict[int, int]  # task id -> executions
    completed_ok: int  # runs whose handler returned (recorded or not)
    cancelled: int  # runs that saw their cancellation
    unfinished: int  # runs with no end line
    overlaps_in_process: int  # pairs of runs of one task, one pid, that ran at once
    overlaps_across: int  # the same across two pids
    most_at_once: int  # the most runs of one task at one moment

    def line(self) -> str:
        spread = sorted(set(self.per_task.values()))
        return (f"tasks={self.tasks} executions={self.executions} "
                f"executions/task={spread} handler_ok={self.completed_ok} "
                f"cancelled={self.cancelled} unfinished={self.unfinished} "
                f"overlaps_in_process={self.overlaps_in_process} "
                f"overlaps_across={self.overlaps_across} most_at_once={self.most_at_once}")


def summarize(runs: list[Run]) -> Summary:
    by_task: dict[int, list[Run]] = defaultdict(list)
    for run in runs:
        by_task[run.task_id].append(run)
    inside = across = 0
    for task_runs in by_task.values():
        for a, b in itertools.combinations(task_runs, 2):
            if a.overlaps(b):
                inside, across = (inside + 1, across) if a.pid == b.pid else (inside, across + 1)
    return Summary(
        tasks=len(by_task), executions=len(runs),
        per_task={task: len(rs) for task, rs in sorted(by_task.items())},
        completed_ok=sum(r.how == "ok" for r in runs),
        cancelled=sum(r.how == "cancelled" for r in runs),
        unfinished=sum(r.how == "running" for r in runs),
        overlaps_in_process=inside, overlaps_across=across,
        most_at_once=max((_most_at_once(rs) for rs in by_task.values()), default=0))
