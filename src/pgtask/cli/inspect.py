"""pgtask ls, pgtask show, pgtask stats: look at tasks without writing SQL."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from pgtask.cli.common import QUEUE, TASK_TYPE, cell, console, dsn_option, json_block, to_json, when
from pgtask.cli.tasklines import NO_CURSOR, message_cell, print_page, state_cell
from pgtask.models import TaskState
from pgtask.redact import redact_row
from pgtask.store.base import Row
from pgtask.store.operators import open_operator

# rich is imported where output is made: `pgtask <command> --help` never needs it.
if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

STATES = click.Choice([s.value for s in TaskState])


@click.command("ls")
@click.option("--state", type=STATES, help="Only tasks in this state.")
@click.option("--queue", type=QUEUE, help="Only tasks of this queue.")
@click.option("--type", "task_type", type=TASK_TYPE, help="Only tasks of this type.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--after", type=click.IntRange(0), default=0, help="Start after this task id.")
@click.option("--newest", is_flag=True, help="Newest first (the highest ids).")
@click.option("--before", type=click.IntRange(1), default=None,
              help="Newest first, starting below this task id.")
@click.option("--full", is_flag=True, help="Whole messages (tracebacks), not their last line.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@dsn_option
def ls(state: str | None, queue: str | None, task_type: str | None, limit: int, after: int,
       newest: bool, before: int | None, full: bool, as_json: bool, dsn: str | None) -> None:
    """List tasks by id, a page at a time (the last line gives the next page's option).

    One line per task; a message shows its last line (for an error, the exception that was
    raised), --full shows it whole.
    """
    if after and (newest or before):
        raise click.UsageError("--after pages oldest first; --newest/--before newest first: "
                               "give one or the other")
    if newest and before is None:
        before = NO_CURSOR
    with open_operator(dsn) as operator:
        rows = operator.list_tasks(state=state, queue=queue, task_type=task_type, after=after,
                                   limit=limit, before=before)
    print_page(rows, as_json=as_json, full=full, limit=limit, empty="no tasks match",
               cursor="before" if before is not None else "after",
               headers=("ID", "QUEUE", "TYPE", "STATE", "ATTEMPT", "RUN AT", "FINISHED",
                        "MESSAGE"),
               line=lambda r: [cell(r["id"]), cell(r["queue"]), cell(r["task_type"]),
                               state_cell(r["state"]), cell(r["attempt"]),
                               cell(when(r["run_at"])), cell(when(r["finished_at"])),
                               message_cell(r["message"], full=full)])


def _field(value: Any) -> str:
    if isinstance(value, datetime):
        return when(value)
    if value is None:
        return "–"
    return to_json(value, indent=None) if isinstance(value, dict | list) else str(value)


def _fields_table(task: Row) -> Table:
    from rich.table import Table

    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in task.items():
        if key in ("payload", "result", "errors"):
            continue
        table.add_row(cell(key), cell(_field(value), multiline=True))
    return table


def _section(out: Console, title: str, headers: tuple[str, ...],
             rows: list[tuple[Any, ...]]) -> None:
    from rich.table import Table

    out.print()
    out.print(f"{title} ({len(rows)})", style="bold underline")
    if not rows:
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(cell("–" if v is None else when(v) if isinstance(v, datetime) else v,
                             multiline=True) for v in row))
    out.print(table)


@click.command()
@click.argument("task_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object.")
@dsn_option
def show(task_id: int, as_json: bool, dsn: str | None) -> None:
    """Everything about one task: fields, payload, result, errors, logs, HTTP attempts."""
    with open_operator(dsn) as operator:
        detail = operator.task_detail(task_id)
    if detail is None:
        raise click.ClickException(f"no task {task_id} (it may have been pruned)")
    detail = {**detail, "task": redact_row(detail["task"])}  # URLs stored whole, shown redacted
    if as_json:
        click.echo(to_json(detail))
        return
    out, task = console(), detail["task"]
    out.print(_fields_table(task))
    out.print()
    out.print("payload", style="bold underline")
    out.print(json_block(task["payload"]))
    if task["result"] is not None:
        out.print("result", style="bold underline")
        out.print(json_block(task["result"]))
    errors = [(e.get("attempt"), when(e.get("at")), e.get("worker_id"), e.get("error"))
              for e in task["errors"]]
    _section(out, "errors", ("ATTEMPT", "AT", "WORKER", "ERROR"), errors)
    logs = [(r["attempt"], r["at"], r["level"], r["message"]) for r in detail["logs"]]
    _section(out, "log lines", ("ATTEMPT", "AT", "LEVEL", "MESSAGE"), logs)
    if detail.get("follow_ups"):
        _section(out, "follow-ups", ("ID", "TYPE", "STATE"),
                 [(r["id"], r["task_type"], r["state"]) for r in detail["follow_ups"]])
    if detail["http_attempts"] is not None:
        attempts = [(r["attempt"], r["at"], r["status"], r["latency_ms"], r["reason"],
                     r["response"]) for r in detail["http_attempts"]]
        _section(out, "HTTP attempts", ("ATTEMPT", "AT", "STATUS", "MS", "REASON", "RESPONSE"),
                 attempts)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print {queue: {state: count}}.")
@dsn_option
def stats(as_json: bool, dsn: str | None) -> None:
    """How many tasks each queue has in each state, and why a queue's tasks wait."""
    from rich.table import Table

    from pgtask.console.render import hint_lines
    from pgtask.ops.snapshot import from_rows

    with open_operator(dsn) as operator:
        rows = operator.task_counts()
        snapshot = from_rows(operator.top_rows()) if not as_json else None
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["queue"], {})[row["state"]] = row["n"]
    if as_json:
        click.echo(to_json(counts))
        return
    states = [s.value for s in TaskState]
    table = Table(box=None, header_style="bold", pad_edge=False, show_footer=len(counts) > 1)
    table.add_column("QUEUE", footer="all")
    for state in [*states, "total"]:
        column = [c.get(state, 0) for c in counts.values()] if state != "total" else \
            [sum(c.values()) for c in counts.values()]
        table.add_column(state.upper(), justify="right", footer=f"{sum(column):,}")
    for queue, c in counts.items():
        table.add_row(cell(queue), *(f"{c.get(s, 0):,}" for s in states), f"{sum(c.values()):,}")
    console().print(table if counts else "no tasks")
    if snapshot is not None:
        for line in hint_lines(snapshot.queues, snapshot.unregistered()):
            console().print(line)


def register(group: click.Group) -> None:
    for command in (ls, show, stats):
        group.add_command(command)
