"""Issue 16, item 9: in `pgtask top` the selection is a queue, not a row number. After a
re-sort, or a refresh whose numbers reorder the rows, `p` pauses or resumes the queue the
operator selected (before: whichever queue now sat at the selected row)."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from pgtask.console import live
from pgtask.console.view import Action

from .fixtures import BUSY  # default (1200 ready), emails (7, paused), webhooks.out (0)


class Keys:
    """Stands in for KeyReader: each read asks `script` for the keys to hand out."""

    def __init__(self, script):
        self.script = script

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def read(self, timeout):
        return self.script()


def run_top(monkeypatch, take, script) -> list[Action]:
    acted: list[Action] = []
    monkeypatch.setattr(live, "KeyReader", lambda: Keys(script))

    def act(action):
        acted.append(action)
        return f"queue {action.queue} done"

    console = Console(file=io.StringIO(), force_terminal=True, width=160, height=40)
    live.run(take, act, console=console, interval=0.01)
    return acted


def test_p_acts_on_the_selected_queue_after_a_re_sort(monkeypatch):
    batches = [["down", "down"], ["s", "s"], ["p"], ["q"]]  # webhooks.out; sort by lag
    acted = run_top(monkeypatch, lambda: BUSY, lambda: batches.pop(0) if batches else ["q"])
    # by lag: emails, default, webhooks.out; the selection stays on webhooks.out
    assert acted == [Action("pause", "webhooks.out")]


def test_p_acts_on_the_selected_queue_after_a_refresh_reorders_the_rows(monkeypatch):
    busier = replace(BUSY, queues=tuple(replace(q, queued=5000) if q.name == "emails" else q
                                        for q in BUSY.queues))
    taken: list[int] = []

    def take():
        taken.append(1)
        return BUSY if len(taken) == 1 else busier  # emails jumps to the top by "ready"

    steps = [["s", "down"]]  # sort by ready (default, emails, ...) and select emails

    def script():
        if steps:
            return steps.pop(0)
        if len(taken) < 2:
            return []  # wait for the refresh that reorders the rows
        steps.append(["q"])
        return ["p"]

    assert run_top(monkeypatch, take, script) == [Action("resume", "emails")]
