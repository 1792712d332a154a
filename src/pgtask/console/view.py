"""What the operator chose with the keys (sort, filter, selection) and how keys change it.

Pure: `handle_key` returns the new View and, for keys that act on the database, an Action
for the loop to carry out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pgtask.ops.snapshot import QueueStats, Snapshot

SORTS = {
    "name": lambda q: (q.name,),
    "ready": lambda q: (-q.queued, q.name),
    "lag": lambda q: (-(q.lag or 0.0), q.name),
    "done/s": lambda q: (-q.completed.s10, q.name),
    "fail/s": lambda q: (-q.failed.s10, -q.dead_1h, q.name),
    "running": lambda q: (-q.running, q.name),
}
SORT_ORDER = tuple(SORTS)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a number turns into a warning."""

    stale_worker: float = 30.0       # seconds without a heartbeat
    xmin_seconds: float = 60.0       # a transaction holding the xmin horizon this long
    xmin_xids: int = 1_000_000       # ... or a slot holding it this many transactions back
    dead_tuples: int = 100_000       # dead rows in pgtask.tasks that vacuum has not removed
    history_length: int = 100_000    # MySQL: row versions InnoDB's purge has yet to remove


@dataclass(frozen=True, slots=True)
class View:
    sort: str = "name"
    filter: str = ""
    editing_filter: bool = False
    selected: int = 0              # the row highlighted: where `selected_name` is listed now
    message: str = ""
    # The selection is a queue, not a row: a re-sort or a refresh that reorders the rows
    # moves the highlight with it, and "p" pauses the queue the operator chose.
    selected_name: str | None = None


START = View()  # what the console shows first
DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True, slots=True)
class Action:
    kind: str        # 'quit', 'pause' or 'resume'
    queue: str = ""


def visible_queues(snapshot: Snapshot, view: View) -> list[QueueStats]:
    """The queues the frame lists: those matching the filter, in the chosen order."""
    shown = [q for q in snapshot.queues if view.filter in q.name]
    return sorted(shown, key=SORTS.get(view.sort, SORTS["name"]))


def reselect(view: View, queues: list[QueueStats]) -> View:
    """The view with `selected` on the row of the selected queue among `queues` (the rows
    listed now); when that queue is not listed, the row at the same place is selected."""
    if not queues:
        return view
    names = [q.name for q in queues]
    row = (names.index(view.selected_name) if view.selected_name in names
           else min(view.selected, len(names) - 1))
    return replace(view, selected=row, selected_name=names[row])


def _move(view: View, queues: list[QueueStats], row: int) -> View:
    return replace(view, selected=row, selected_name=queues[row].name if queues else None)


def _edit_filter(view: View, key: str) -> View:
    if key == "enter":
        return replace(view, editing_filter=False)
    if key == "esc":
        return replace(view, editing_filter=False, filter="")
    if key == "backspace":
        return replace(view, filter=view.filter[:-1])
    if len(key) == 1 and key.isprintable():
        return replace(view, filter=view.filter + key)
    return view


def handle_key(view: View, key: str, queues: list[QueueStats]) -> tuple[View, Action | None]:
    """React to one key; `queues` are the rows currently listed (visible_queues)."""
    view = reselect(replace(view, message=""), queues)
    if view.editing_filter:
        return _edit_filter(view, key), None
    last = max(0, len(queues) - 1)
    if key in ("q", "ctrl-c"):
        return view, Action("quit")
    if key == "s":
        following = SORT_ORDER[(SORT_ORDER.index(view.sort) + 1) % len(SORT_ORDER)]
        return reselect(replace(view, sort=following), sorted(queues, key=SORTS[following])), None
    if key in ("f", "/"):
        return replace(view, editing_filter=True), None
    if key == "esc":
        return replace(view, filter=""), None
    if key in ("down", "j"):
        return _move(view, queues, min(last, view.selected + 1)), None
    if key in ("up", "k"):
        return _move(view, queues, max(0, view.selected - 1)), None
    if key == "p" and queues:
        q = queues[view.selected]
        return view, Action("resume" if q.paused else "pause", q.name)
    return view, None
