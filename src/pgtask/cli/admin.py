"""pgtask retry, cancel, prune, unstick: steer tasks (queues: cli/queues.py).

Bulk commands list what they are about to change and ask first, unless --yes; a command
that is not talking to a terminal reads "no" and stops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import click

from pgtask.cli.common import QUEUE, TASK_TYPE, dsn_option
from pgtask.cli.tasklines import MAX_REASONS, unchanged_lines
from pgtask.cli.units import (
    DURATION,
    format_duration,
)
from pgtask.store.base import Operator
from pgtask.store.operators import open_operator
from pgtask.store.pruning import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE

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


def _report(operator: Operator, verb: str, asked: list[int], done: list[int]) -> None:
    """Say what changed, and why each task asked for was not (its state, or no such task);
    exit 1 when one was not (a script must see it)."""
    click.echo(f"{verb} {len(done):,} of {len(asked):,} task(s)")
    missed = sorted(set(asked) - set(done))
    if missed:
        for line in unchanged_lines(verb, missed, operator.task_states(missed[:MAX_REASONS])):
            click.echo(line, err=True)
        raise click.ClickException(f"{len(missed):,} task(s) not {verb}")


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
            _report(operator, "retried", chosen, operator.retry_tasks(chosen))


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
            _report(operator, "cancelled", chosen, operator.cancel_tasks(chosen, reason))


@click.command()
@click.option("--older-than", type=DURATION, default="7d", show_default=True,
              help="Forget finished tasks older than this (e.g. 12h, 7d, 2w).")
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=DEFAULT_BATCH_SIZE,
              show_default=True,
              help="Delete this many tasks per transaction (each commits on its own).")
@yes_option
@dsn_option
def prune(older_than: timedelta, batch_size: int, yes: bool, dsn: str | None) -> None:
    """Delete finished tasks (with their keys and logs) that finished long enough ago.

    In batches, each its own transaction: none holds back vacuum or writes its WAL in one
    burst."""
    with open_operator(dsn) as operator:
        n = operator.count_prunable(older_than)
        if n == 0:
            click.echo(f"no finished tasks older than {format_duration(older_than)}")
            return
        if not yes:
            click.confirm(f"Delete {n:,} finished tasks older than {format_duration(older_than)}?",
                          abort=True, err=True)
        click.echo(f"pruned {operator.prune(older_than, batch_size):,} task(s)")


@click.command()
@dsn_option
def unstick(dsn: str | None) -> None:
    """Rescue now the running tasks whose lease has expired (workers also do this)."""
    with open_operator(dsn) as operator:
        click.echo(f"rescued {operator.rescue():,} task(s) with expired leases")


def register(group: click.Group) -> None:
    for command in (retry, cancel, prune, unstick):
        group.add_command(command)
