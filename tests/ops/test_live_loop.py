"""The Live loop: keys drive sort and pause/resume; a failed refresh keeps the last frame."""

import io

from rich.console import Console

from pgtask.console import live
from pgtask.console.view import Action
from pgtask.errors import DatabaseUnavailable

from .fixtures import BUSY


class ScriptedKeys:
    """Stands in for KeyReader: hands out one scripted batch of keys per read."""

    def __init__(self, batches):
        self.batches = list(batches)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def read(self, timeout):
        return self.batches.pop(0) if self.batches else ["q"]


def test_keys_pause_the_selected_queue_and_quit(monkeypatch):
    monkeypatch.setattr(live, "KeyReader", lambda: ScriptedKeys([[], ["down", "p"], ["s"], ["q"]]))
    taken, acted = [], []

    def take():
        taken.append(1)
        if len(taken) == 2:
            raise DatabaseUnavailable("server closed the connection")  # as a store raises it
        return BUSY

    def act(action):
        acted.append(action)
        return f"queue {action.queue} resumed"

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, height=40)
    live.run(take, act, console=console, interval=0.01)
    assert acted == [Action("resume", "emails")]  # the second row, paused
    assert len(taken) >= 2
    screen = out.getvalue()
    assert "queue emails resumed" in screen and "refresh failed" in screen


def test_without_a_terminal_frames_are_printed_until_interrupted():
    frames = []

    def take():
        frames.append(1)
        if len(frames) == 3:
            raise KeyboardInterrupt
        return BUSY

    out = io.StringIO()
    live.run(take, lambda a: "", console=Console(file=out, width=100), interval=0.001)
    assert out.getvalue().count("pgtask top") == 2
