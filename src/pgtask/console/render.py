"""One `pgtask top` frame as a rich renderable: a pure function of a Snapshot.

Columns carry a priority; when the terminal is too narrow the least important go first,
so a 60-column terminal still shows queue, ready, running, done/s and lag.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from pgtask.console import format as fmt
from pgtask.console.health import health_lines
from pgtask.console.view import DEFAULT_THRESHOLDS, START, Thresholds, View, visible_queues
from pgtask.ops.snapshot import QueueStats, Snapshot, WorkerRow
from pgtask.redact import printable

Cell = Callable[[QueueStats], str | Text]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str
    priority: int  # higher survives longer on a narrow terminal
    cell: Cell
    justify: JustifyMethod = "right"


def _limits(q: QueueStats) -> str:
    parts = []
    if q.concurrency_limit is not None:
        parts.append(f"≤{q.concurrency_limit}")
    if q.rate_limit is not None:
        parts.append(f"{fmt.rate(q.rate_limit)}/s b{q.rate_burst}")
    if q.target_url:
        parts.append("http")
    return " ".join(parts) or fmt.DASH


def _name(q: QueueStats) -> Text:
    text = Text(printable(q.name))
    if q.paused:
        text.append(" ⏸ paused", style="bold yellow")
    return text


def _pickup(i: int) -> Cell:
    return lambda q: fmt.duration(q.pickup[i]) if q.pickup else fmt.DASH


def _failed(value: Callable[[QueueStats], float]) -> Cell:
    return lambda q: Text(fmt.rate(value(q)), style="red" if value(q) > 0 else "")


# In display order: each rate's longer averages sit right after it.
QUEUE_COLUMNS = (
    Column("queue", "QUEUE", 100, _name, "left"),
    Column("ready", "READY", 90, lambda q: fmt.count(q.queued)),
    Column("scheduled", "SCHED", 50, lambda q: fmt.count(q.scheduled)),
    Column("running", "RUN", 85, lambda q: fmt.count(q.running)),
    Column("dead", "DEAD 1h", 60,
           lambda q: Text(fmt.count(q.dead_1h), style="red" if q.dead_1h else "")),
    Column("done10s", "DONE/s", 80, lambda q: fmt.rate(q.completed.s10)),
    Column("done1m", "(1m)", 45, lambda q: fmt.rate(q.completed.m1)),
    Column("done5m", "(5m)", 30, lambda q: fmt.rate(q.completed.m5)),
    Column("failed10s", "FAIL/s", 70, _failed(lambda q: q.failed.s10)),
    Column("failed1m", "(1m)", 40, _failed(lambda q: q.failed.m1)),
    Column("failed5m", "(5m)", 25, _failed(lambda q: q.failed.m5)),
    Column("lag", "LAG", 75, lambda q: fmt.duration(q.lag)),
    Column("p50", "P50", 55, _pickup(0)),
    Column("p95", "P95", 35, _pickup(1)),
    Column("p99", "P99", 33, _pickup(2)),
    Column("limits", "LIMITS", 20, _limits, "left"),
    Column("trend", "LAST 20s", 10,
           lambda q: Text(fmt.sparkline(q.per_second, 20), style="green"), "left"),
)


def fit_columns(columns: Sequence[Column], rows: Sequence[QueueStats], width: int) -> list[Column]:
    """The most important columns whose widest cells fit in `width`, in display order."""
    def needed(col: Column) -> int:
        cells = (Text(c) if isinstance(c, str) else c for c in map(col.cell, rows))
        return max([len(col.header), *(c.cell_len for c in cells)])

    widths = {c.key: needed(c) for c in columns}
    kept = sorted(columns, key=lambda c: -c.priority)
    while len(kept) > 1 and sum(widths[c.key] for c in kept) + 2 * (len(kept) - 1) > width:
        kept.pop()
    return [c for c in columns if c in kept]


def _window(total: int, budget: int | None, selected: int) -> tuple[int, int]:
    """The [start, end) slice of `total` rows to show so that `selected` is visible."""
    if budget is None or total <= budget:
        return 0, total
    start = min(max(0, selected - budget + 1), total - budget)
    return start, start + budget


def queue_table(queues: Sequence[QueueStats], width: int, *, budget: int | None,
                selected: int | None) -> list[RenderableType]:
    if not queues:
        return [Text("no queues yet: enqueue a task to create one", style="dim")]
    start, end = _window(len(queues), budget, selected or 0)
    shown = queues[start:end]
    columns = fit_columns(QUEUE_COLUMNS, shown, width)
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False,
                  header_style="bold", expand=False)
    for col in columns:
        table.add_column(col.header, justify=col.justify, no_wrap=True,
                         overflow="ellipsis", max_width=40 if col.key == "queue" else None)
    for i, q in enumerate(shown, start):
        table.add_row(*(col.cell(q) for col in columns),
                      style="reverse" if selected is not None and i == selected else None)
    parts: list[RenderableType] = [table]
    hidden = len(queues) - len(shown)
    if hidden:
        parts.append(Text(f"… {hidden} more queues (rows {start + 1}-{end} of {len(queues)})",
                          style="dim"))
    return parts


def hint_lines(queues: Sequence[QueueStats], unregistered: Sequence[str], *,
               budget: int | None = None) -> list[RenderableType]:
    """Why queues lag (ops/lag.py), lagging queues first, and the task types enqueued that
    no worker has ever registered; at most `budget` lines."""
    lagging = sorted((q for q in queues if q.hints), key=lambda q: (q.queued == 0, q.name))
    lines: list[RenderableType] = []
    if unregistered:
        lines.append(Text("never registered by a worker: " + printable(", ".join(unregistered)),
                          style="bold yellow"))
    for q in lagging:
        line = Text("why ", style="dim")
        line.append(printable(q.name), style="bold")
        line.append(": " + printable("; ".join(q.hints)),
                    style="yellow" if q.queued else "dim")
        lines.append(line)
    if budget is not None and len(lines) > budget:
        hidden = len(lines) - budget + 1
        lines = [*lines[:budget - 1], Text(f"… {hidden} more hints", style="dim")]
    return lines


def worker_table(workers: Sequence[WorkerRow], width: int, *, budget: int | None,
                 thresholds: Thresholds) -> list[RenderableType]:
    if not workers:
        return [Text("no workers registered", style="dim")]
    shown = workers if budget is None else workers[:budget]
    wide = width >= 70
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False, header_style="bold")
    headers = ("HOST", "PID", "QUEUES", "IN-FLIGHT", "HEARTBEAT", "UPTIME")
    for header in headers if wide else (headers[0], headers[1], headers[3], headers[4]):
        table.add_column(header, no_wrap=True, overflow="ellipsis",
                         justify="left" if header in ("HOST", "QUEUES") else "right",
                         max_width=30 if header in ("HOST", "QUEUES") else None)
    for w in shown:
        stale = w.heartbeat_age > thresholds.stale_worker
        beat = Text(fmt.duration(w.heartbeat_age) + " ago" + (" STALE" if stale else ""),
                    style="bold red" if stale else "")
        queues = printable(",".join(w.queues)) if w.queues else "*"
        cells: list[str | Text] = [Text(printable(w.host)), str(w.pid), Text(queues),
                 f"{w.in_flight}/{w.concurrency}", beat, fmt.duration(w.uptime)]
        table.add_row(*(cells if wide else [cells[0], cells[1], cells[3], beat]),
                      style="red" if stale else None)
    parts: list[RenderableType] = [table]
    if len(shown) < len(workers):
        parts.append(Text(f"… {len(workers) - len(shown)} more workers", style="dim"))
    return parts


def header(snapshot: Snapshot, width: int, thresholds: Thresholds) -> list[RenderableType]:
    done = sum(q.completed.s10 for q in snapshot.queues)
    failed = sum(q.failed.s10 for q in snapshot.queues)
    stale = sum(1 for w in snapshot.workers if w.heartbeat_age > thresholds.stale_worker)
    title = Text("pgtask top", style="bold")
    title.append(f"  {snapshot.at:%Y-%m-%d %H:%M:%S %Z}  ·  {len(snapshot.queues)} queues"
                 f"  ·  {len(snapshot.workers)} workers")
    if stale:
        title.append(f" ({stale} stale)", style="bold red")
    line = Text("throughput ")
    line.append(f"{fmt.rate(done) if done else 0} done/s", style="green")
    line.append("  ")
    line.append(f"{fmt.rate(failed) if failed else 0} failed/s", style="red" if failed else "")
    spark_width = max(0, min(60, width - line.cell_len - 3))
    if spark_width >= 8:
        line.append("  ")
        line.append(fmt.sparkline(snapshot.throughput(), spark_width), style="green")
    return [title, line]


def render(snapshot: Snapshot, width: int, *, height: int | None = None, view: View = START,
           thresholds: Thresholds = DEFAULT_THRESHOLDS,
           interactive: bool = False) -> RenderableType:
    """The whole frame for a terminal `width` columns wide (and `height` rows, if bounded)."""
    queues = visible_queues(snapshot, view)
    worker_budget = queue_budget = hint_budget = None
    if height is not None:
        worker_budget = min(len(snapshot.workers), max(1, height // 5))
        hint_budget = 3
        queue_budget = max(1, height - 15 - worker_budget - hint_budget)
    parts: list[RenderableType] = [*header(snapshot, width, thresholds), Text()]
    parts += queue_table(queues, width, budget=queue_budget,
                         selected=view.selected if interactive else None)
    hints = hint_lines(queues, snapshot.unregistered(), budget=hint_budget)
    if hints:
        parts += [Text(), *hints]
    parts += [Text(), Text("WORKERS", style="bold underline")]
    parts += worker_table(snapshot.workers, width, budget=worker_budget, thresholds=thresholds)
    parts += [Text(), *health_lines(snapshot.health, thresholds)]
    if interactive:
        parts += [Text(), footer(view)]
    return Group(*parts)


def footer(view: View) -> Text:
    text = Text(f"[s]ort: {view.sort}  [f]ilter", style="dim")
    if view.editing_filter:
        text.append(f": {printable(view.filter)}▏", style="bold")
    elif view.filter:
        text.append(f": {printable(repr(view.filter))}")
    text.append("  [↑↓] select  [p]ause/resume  [q]uit", style="dim")
    if view.message:
        text.append(f"   {printable(view.message)}", style="bold yellow")
    return text
