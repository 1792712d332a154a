"""The thin loop around render(): take a snapshot, draw it, read keys until the next one.

It executes no SQL itself: `take` returns a Snapshot and `act` carries out an Action
(pause/resume), both supplied by the command (cli/top.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from rich.console import Console, RenderableType
from rich.live import Live

from pgtask.console.keys import KeyReader
from pgtask.console.render import render
from pgtask.console.view import (
    DEFAULT_THRESHOLDS,
    START,
    Action,
    Thresholds,
    View,
    handle_key,
    reselect,
    visible_queues,
)
from pgtask.errors import DatabaseUnavailable
from pgtask.ops.snapshot import Snapshot

Take = Callable[[], Snapshot]
Act = Callable[[Action], str]


def _frame(snapshot: Snapshot, console: Console, view: View,
           thresholds: Thresholds) -> RenderableType:
    height = console.size.height
    view = reselect(view, visible_queues(snapshot, view))  # the highlight follows its queue
    return render(snapshot, console.width, height=height, view=view, thresholds=thresholds,
                  interactive=True)


def _refresh(take: Take, snapshot: Snapshot, view: View) -> tuple[Snapshot, View]:
    """A new snapshot, or the last one with a note when the database does not answer."""
    try:
        return take(), view
    except DatabaseUnavailable as exc:
        return snapshot, replace(view, message=f"refresh failed ({_reason(exc)}); retrying")


def _act(act: Act, action: Action) -> str:
    """What `act` says it did, or why it could not (the next refresh reconnects)."""
    try:
        return act(action)
    except DatabaseUnavailable as exc:
        return f"{action.kind} {action.queue} failed ({_reason(exc)})"


def _reason(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[-1]


def run_plain(take: Take, console: Console, interval: float, thresholds: Thresholds) -> None:
    """No terminal to redraw in: print one frame per interval until interrupted."""
    while True:
        console.print(render(take(), console.width, thresholds=thresholds))
        console.print()
        time.sleep(interval)


def run_live(take: Take, act: Act, console: Console, interval: float,
             thresholds: Thresholds) -> None:
    """Redraw in place every `interval` seconds, reacting to keys in between."""
    view = START
    snapshot = take()  # a failure here is the command's to report
    with KeyReader() as keys, Live(console=console, screen=True, auto_refresh=False) as live:
        while True:
            live.update(_frame(snapshot, console, view, thresholds), refresh=True)
            deadline = time.monotonic() + interval
            while (remaining := deadline - time.monotonic()) > 0:
                pressed = keys.read(min(remaining, 0.25))
                for key in pressed:
                    view, action = handle_key(view, key, visible_queues(snapshot, view))
                    if action is not None and action.kind == "quit":
                        return
                    if action is not None:
                        view = replace(view, message=_act(act, action))
                        deadline = 0  # show the change at once
                if pressed:
                    live.update(_frame(snapshot, console, view, thresholds), refresh=True)
            snapshot, view = _refresh(take, snapshot, view)


def run(take: Take, act: Act, *, console: Console, interval: float,
        thresholds: Thresholds = DEFAULT_THRESHOLDS) -> None:
    try:
        if console.is_terminal:
            run_live(take, act, console, interval, thresholds)
        else:
            run_plain(take, console, interval, thresholds)
    except KeyboardInterrupt:
        pass
