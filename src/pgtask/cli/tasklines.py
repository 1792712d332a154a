"""How a task reads on one line of `pgtask ls` and `pgtask errors` (pure): its state in a
colour, its message or error cut to the line that says what happened."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

from pgtask.cli.common import cell, console, to_json
from pgtask.store.base import Row

# rich is imported where output is made: `pgtask <command> --help` never needs it.
if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

# Rich drops the colours itself for a pipe, a file, or NO_COLOR (the CLI's other output too).
STATE_STYLES = {"queued": "blue", "running": "cyan", "succeeded": "green", "dead": "bold red",
                "cancelled": "yellow"}
NO_CURSOR = 2**63 - 1  # above every task id: the newest-first listing's first page


def last_line(text: str | None) -> str:
    """The last non-blank line of an error: a traceback ends with the exception that was
    raised ("ValueError: boom"), after pgtask's and the handler's frames."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def state_cell(state: str) -> Text:
    text = cell(state)
    text.stylize(STATE_STYLES.get(state, ""))
    return text


def message_cell(text: str | None, *, full: bool) -> Text:
    """The whole message (--full), else its last line."""
    return cell(text or "", multiline=True) if full else cell(last_line(text))


def task_table(headers: tuple[str, ...], *, full: bool) -> Table:
    """A listing whose last column is the message: cut to one line unless --full, then wrapped
    whole. ID and STATE keep their width, so a narrow terminal squeezes the text instead."""
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in headers:
        text = header == headers[-1]
        table.add_column(header, no_wrap=not (text and full),
                         overflow="fold" if text and full else "ellipsis",
                         min_width=len(header) if header in ("ID", "STATE") else None,
                         max_width=80 if text and not full else None)
    return table


def print_page(rows: Sequence[Row], *, as_json: bool, headers: tuple[str, ...], full: bool,
               line: Callable[[Row], list[Text]], empty: str, limit: int,
               cursor: str) -> None:
    """A page of a listing: one JSON object per row (--json), else a task_table of `line`s
    (or `empty`), then, when the page is full, the option that gives the next one."""
    if as_json:
        for row in rows:
            click.echo(to_json(row, indent=None))
        return
    table = task_table(headers, full=full)
    for row in rows:
        table.add_row(*line(row))
    out = console()
    out.print(table if rows else empty)
    if len(rows) == limit:
        out.print(f"next page: --{cursor} {rows[-1]['id']}", style="dim")


MAX_REASONS = 20  # a bulk action that missed thousands says why for the first ones
ALLOWED_FROM = {"retried": ("dead", "cancelled"), "cancelled": ("queued", "running")}


def unchanged_lines(verb: str, missed: list[int], states: dict[int, str]) -> list[str]:
    """One line per task an action left unchanged, saying why (pure): no such task, or its
    state is not one the action starts from."""
    allowed = " or ".join(ALLOWED_FROM[verb])
    lines = []
    for task_id in missed[:MAX_REASONS]:
        state = states.get(task_id)
        if state is None:
            lines.append(f"task {task_id}: no such task (it may have been pruned)")
        else:
            lines.append(f"task {task_id}: is {state}; only {allowed} tasks can be {verb}")
    if len(missed) > MAX_REASONS:
        lines.append(f"... and {len(missed) - MAX_REASONS:,} more")
    return lines
