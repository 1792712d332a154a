"""pgtask retry, cancel, queue ls|set|pause|resume, prune, unstick: steer the queues.

Bulk commands list what they are about to change and ask first, unless --yes; a command
that is not talking to a terminal reads "no" and stops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import click
from rich.table import Table

from pgtask.cli.common import QUEUE, TASK_TYPE, cell, console, dsn_option
from pgtask.cli.units import (
    CLEAR,
    DURATION,
    OPTIONAL_INT,
    OPTIONAL_RATE,
    OPTIONAL_TEXT,
    RATE,
    ParamType,
    format_duration,
    format_rate,
)
from pgtask.queue_settings import QUEUE_SETTINGS, QueueSetting
from pgtask.redact import redact_url
from pgtask.store.base import Operator, Row
from pgtask.store.operators import open_operator

F = TypeVar("F", bound=Callable[..., Any])

yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


def task_selection(verb: str, states: list[str]) -> Callable[[F], F]:
    """The options of a bulk command: task ids, or --state/--queue/--type filters."""
    def decorate(command: F) -> F:
        for option in reversed((
            click.argument("ids", nargs=-1, type=int),
            click.option("--state", type=click.Choice(states),
                         help=f"{verb.capitalize()} every task in this state "
                              "(with --queue/--type to narrow)."),
            click.option("--queue", type=QUEUE, help="Only tasks of this queue."),
            click.option("--type", "task_type", type=TASK_TYPE, help="Only tasks of this type."),
        )):
            command = option(command)
        return command
    return decorate


def _describe(state: str | None, queue: str | None, task_type: str | None) -> str:
    parts = [f"{k}={v}" for k, v in (("queue", queue), ("type", task_type)) if v]
    return f"{state or ''} tasks".strip() + (f" ({', '.join(parts)})" if parts else "")


def _chosen_ids(operator: Operator, ids: Sequence[int], *, finished: bool, state: str | None,
                queue: str | None, task_type: str | None, yes: bool, verb: str) -> list[int]:
    """The ids given, or those matching the filters once the operator has confirmed."""
    if ids and (queue or task_type or state):
        raise click.UsageError("give task ids or filters (--state/--queue/--type), not both")
    if ids:
        return list(ids)
    if not (queue or task_type or state):
        raise click.UsageError(f"say which tasks to {verb}: task ids, or --state/--queue/--type")
    chosen = operator.select_ids(finished=finished, state=state, queue=queue,
                                 task_type=task_type)
    what = _describe(state, queue, task_type)
    if not chosen:
        click.echo(f"no {what} to {verb}")
    elif not yes:
        click.confirm(f"{verb.capitalize()} {len(chosen):,} {what}?", abort=True, err=True)
    return chosen


def _report(verb: str, asked: list[int], done: list[int]) -> None:
    """Say what changed; exit 1 when a task asked for was not changed (a script must see it)."""
    click.echo(f"{verb} {len(done):,} of {len(asked):,} task(s)")
    missed = sorted(set(asked) - set(done))
    if missed:
        shown = ", ".join(map(str, missed[:20])) + (" ..." if len(missed) > 20 else "")
        raise click.ClickException(
            f"not changed (no such task, or not in a state that allows it): {shown}")


@click.command()
@task_selection("retry", ["dead", "cancelled"])
@yes_option
@dsn_option
def retry(ids: tuple[int, ...], state: str | None, queue: str | None, task_type: str | None,
          yes: bool, dsn: str | None) -> None:
    """Put dead or cancelled tasks back on their queue with fresh attempts."""
    with open_operator(dsn) as operator:
        if not ids and state is None and (queue or task_type):
            state = "dead"  # what "retry these" nearly always means
        chosen = _chosen_ids(operator, ids, finished=True, state=state, queue=queue,
                             task_type=task_type, yes=yes, verb="retry")
        if chosen:
            _report("retried", chosen, operator.retry_tasks(chosen))


@click.command()
@task_selection("cancel", ["queued", "running"])
@click.option("--reason", default="cancelled by an operator", show_default=True)
@yes_option
@dsn_option
def cancel(ids: tuple[int, ...], state: str | None, queue: str | None, task_type: str | None,
           reason: str, yes: bool, dsn: str | None) -> None:
    """Stop unfinished tasks: queued ones never run, running ones lose their lease."""
    with open_operator(dsn) as operator:
        chosen = _chosen_ids(operator, ids, finished=False, state=state, queue=queue,
                             task_type=task_type, yes=yes, verb="cancel")
        if chosen:
            _report("cancelled", chosen, operator.cancel_tasks(chosen, reason))


@click.command()
@click.option("--older-than", type=DURATION, default="7d", show_default=True,
              help="Forget finished tasks older than this (e.g. 12h, 7d, 2w).")
@yes_option
@dsn_option
def prune(older_than: timedelta, yes: bool, dsn: str | None) -> None:
    """Delete finished tasks (with their keys and logs) that finished long enough ago."""
    with open_operator(dsn) as operator:
        n = operator.count_prunable(older_than)
        if n == 0:
            click.echo(f"no finished tasks older than {format_duration(older_than)}")
            return
        if not yes:
            click.confirm(f"Delete {n:,} finished tasks older than {format_duration(older_than)}?",
                          abort=True, err=True)
        click.echo(f"pruned {operator.prune(older_than):,} task(s)")


@click.command()
@dsn_option
def unstick(dsn: str | None) -> None:
    """Rescue now the running tasks whose lease has expired (workers also do this)."""
    with open_operator(dsn) as operator:
        click.echo(f"rescued {operator.rescue():,} task(s) with expired leases")


@click.group()
def queue() -> None:
    """List queues and change their policy."""


def _policy_row(q: Row) -> list[str]:
    def dur(v: timedelta | None) -> str:
        return format_duration(v) if v is not None else "–"

    return [q["name"], "paused" if q["paused"] else "active",
            str(q["concurrency_limit"] or "–"),
            f"{format_rate(q['rate_limit'])} b{q['rate_burst']}" if q["rate_limit"] else "–",
            str(q["max_attempts"]), f"{dur(q['min_backoff'])}..{dur(q['max_backoff'])}"
            f" x{q['max_doublings']} ±{q['backoff_jitter']:g}", dur(q["lease"]),
            redact_url(q["target_url"]) if q["target_url"] else "–", dur(q["dispatch_deadline"])]


POLICY_HEADERS = ("QUEUE", "STATE", "CONCURRENCY", "RATE", "ATTEMPTS", "BACKOFF", "LEASE",
                  "TARGET", "DEADLINE")


def _print_policies(rows: list[Row]) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in POLICY_HEADERS:
        table.add_column(header, no_wrap=True, overflow="ellipsis")
    for q in rows:
        table.add_row(*map(cell, _policy_row(q)))
    console().print(table if rows else "no queues yet")


@queue.command("ls")
@dsn_option
def queue_ls(dsn: str | None) -> None:
    """Every queue and its policy."""
    with open_operator(dsn) as operator:
        _print_policies(operator.queues())


def _click_type(setting: QueueSetting) -> ParamType | type[Any]:
    """How `pgtask queue set` reads a setting of this kind ('none' clears a clearable one)."""
    if setting.kind == "int":
        return OPTIONAL_INT if setting.clearable else int
    if setting.kind == "rate":
        return OPTIONAL_RATE if setting.clearable else RATE
    if setting.kind == "duration":
        return DURATION
    if setting.kind == "fraction":
        return float
    return OPTIONAL_TEXT if setting.clearable else str


def setting_options(command: F) -> F:
    """One option per queue setting (pgtask.queue_settings), its value under the setting's
    name, in the table's order."""
    for setting in reversed(QUEUE_SETTINGS):
        command = click.option(f"--{setting.option}", setting.name, type=_click_type(setting),
                               help=setting.help)(command)
    return command


@queue.command("set")
@click.argument("name", type=QUEUE)
@setting_options
@dsn_option
def queue_set(name: str, dsn: str | None, **options: Any) -> None:
    """Change a queue's policy (creating the queue if needed); only the options given change."""
    settings = {setting: None if value is CLEAR else value
                for setting, value in options.items() if value is not None}
    if not settings:
        raise click.UsageError("nothing to change: give at least one setting (see --help)")
    with open_operator(dsn) as operator:
        _print_policies([operator.configure_queue(name, settings)])


def _set_paused(name: str, paused: bool, dsn: str | None) -> None:
    with open_operator(dsn) as operator:
        if not operator.set_paused(name, paused):
            raise click.ClickException(f"no queue named {name!r} (see `pgtask queue ls`)")
    click.echo(f"queue {name} {'paused' if paused else 'resumed'}")


@queue.command("pause")
@click.argument("name", type=QUEUE)
@dsn_option
def queue_pause(name: str, dsn: str | None) -> None:
    """Stop claiming from a queue; running tasks finish."""
    _set_paused(name, True, dsn)


@queue.command("resume")
@click.argument("name", type=QUEUE)
@dsn_option
def queue_resume(name: str, dsn: str | None) -> None:
    """Start claiming from a paused queue again."""
    _set_paused(name, False, dsn)


def register(group: click.Group) -> None:
    for command in (retry, cancel, prune, unstick, queue):
        group.add_command(command)
