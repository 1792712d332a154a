"""pgtask retry, cancel, queue ls|set|pause|resume, prune, unstick: steer the queues.

Bulk commands list what they are about to change and ask first, unless --yes; a command
that is not talking to a terminal reads "no" and stops.
"""

from __future__ import annotations

import click
from rich.table import Table

from pgtask.cli.common import dsn_option
from pgtask.cli.inspect import connection, console, store_for
from pgtask.cli.units import (
    CLEAR,
    DURATION,
    OPTIONAL_INT,
    OPTIONAL_RATE,
    OPTIONAL_TEXT,
    format_duration,
    format_rate,
)
from pgtask.store.postgres import admin


def store(conn):
    """store.admin, or store.admin_mysql on a MySQL connection."""
    return store_for(conn, admin)


yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


def task_selection(verb: str, states: list[str]):
    """The options of a bulk command: task ids, or --state/--queue/--type filters."""
    def decorate(command):
        for option in reversed((
            click.argument("ids", nargs=-1, type=int),
            click.option("--state", type=click.Choice(states),
                         help=f"{verb.capitalize()} every task in this state "
                              "(with --queue/--type to narrow)."),
            click.option("--queue", help="Only tasks of this queue."),
            click.option("--type", "task_type", help="Only tasks of this type."),
        )):
            command = option(command)
        return command
    return decorate


def _describe(state: str | None, queue: str | None, task_type: str | None) -> str:
    parts = [f"{k}={v}" for k, v in (("queue", queue), ("type", task_type)) if v]
    return f"{state or ''} tasks".strip() + (f" ({', '.join(parts)})" if parts else "")


def _chosen_ids(conn, ids, *, finished: bool, state, queue, task_type, yes, verb) -> list[int]:
    """The ids given, or those matching the filters once the operator has confirmed."""
    if ids and (queue or task_type or state):
        raise click.UsageError("give task ids or filters (--state/--queue/--type), not both")
    if ids:
        return list(ids)
    if not (queue or task_type or state):
        raise click.UsageError(f"say which tasks to {verb}: task ids, or --state/--queue/--type")
    chosen = store(conn).select_ids(conn, finished=finished, state=state, queue=queue,
                                    task_type=task_type)
    what = _describe(state, queue, task_type)
    if not chosen:
        click.echo(f"no {what} to {verb}")
    elif not yes:
        click.confirm(f"{verb.capitalize()} {len(chosen):,} {what}?", abort=True, err=True)
    return chosen


def _report(verb: str, asked: list[int], done: list[int]) -> None:
    click.echo(f"{verb} {len(done):,} of {len(asked):,} task(s)")
    missed = sorted(set(asked) - set(done))
    if missed:
        shown = ", ".join(map(str, missed[:20])) + (" ..." if len(missed) > 20 else "")
        click.echo(f"not changed (no such task, or not in a state that allows it): {shown}",
                   err=True)


@click.command()
@task_selection("retry", ["dead", "cancelled"])
@yes_option
@dsn_option
def retry(ids, state, queue, task_type, yes, dsn) -> None:
    """Put dead or cancelled tasks back on their queue with fresh attempts."""
    with connection(dsn) as conn:
        if not ids and state is None and (queue or task_type):
            state = "dead"  # what "retry these" nearly always means
        chosen = _chosen_ids(conn, ids, finished=True, state=state, queue=queue,
                             task_type=task_type, yes=yes, verb="retry")
        if chosen:
            _report("retried", chosen, store(conn).retry_tasks(conn, chosen))


@click.command()
@task_selection("cancel", ["queued", "running"])
@click.option("--reason", default="cancelled by an operator", show_default=True)
@yes_option
@dsn_option
def cancel(ids, state, queue, task_type, reason, yes, dsn) -> None:
    """Stop unfinished tasks: queued ones never run, running ones lose their lease."""
    with connection(dsn) as conn:
        chosen = _chosen_ids(conn, ids, finished=False, state=state, queue=queue,
                             task_type=task_type, yes=yes, verb="cancel")
        if chosen:
            _report("cancelled", chosen, store(conn).cancel_tasks(conn, chosen, reason))


@click.command()
@click.option("--older-than", type=DURATION, default="7d", show_default=True,
              help="Forget finished tasks older than this (e.g. 12h, 7d, 2w).")
@yes_option
@dsn_option
def prune(older_than, yes, dsn) -> None:
    """Delete finished tasks (with their keys and logs) that finished long enough ago."""
    with connection(dsn) as conn:
        n = store(conn).count_prunable(conn, older_than)
        if n == 0:
            click.echo(f"no finished tasks older than {format_duration(older_than)}")
            return
        if not yes:
            click.confirm(f"Delete {n:,} finished tasks older than {format_duration(older_than)}?",
                          abort=True, err=True)
        click.echo(f"pruned {store(conn).prune(conn, older_than):,} task(s)")


@click.command()
@dsn_option
def unstick(dsn) -> None:
    """Rescue now the running tasks whose lease has expired (workers also do this)."""
    with connection(dsn) as conn:
        click.echo(f"rescued {store(conn).rescue(conn):,} task(s) with expired leases")


@click.group()
def queue() -> None:
    """List queues and change their policy."""


def _policy_row(q: dict) -> list[str]:
    def dur(v):
        return format_duration(v) if v is not None else "–"

    return [q["name"], "paused" if q["paused"] else "active",
            str(q["concurrency_limit"] or "–"),
            f"{format_rate(q['rate_limit'])} b{q['rate_burst']}" if q["rate_limit"] else "–",
            str(q["max_attempts"]), f"{dur(q['min_backoff'])}..{dur(q['max_backoff'])}"
            f" x{q['max_doublings']} ±{q['backoff_jitter']:g}", dur(q["lease"]),
            q["target_url"] or "–", dur(q["dispatch_deadline"])]


POLICY_HEADERS = ("QUEUE", "STATE", "CONCURRENCY", "RATE", "ATTEMPTS", "BACKOFF", "LEASE",
                  "TARGET", "DEADLINE")


def _print_policies(rows: list[dict]) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in POLICY_HEADERS:
        table.add_column(header, no_wrap=True, overflow="ellipsis")
    for q in rows:
        table.add_row(*_policy_row(q))
    console().print(table if rows else "no queues yet")


@queue.command("ls")
@dsn_option
def queue_ls(dsn) -> None:
    """Every queue and its policy."""
    with connection(dsn) as conn:
        _print_policies(store(conn).queues(conn))


SETTINGS = (  # option name -> queues column
    ("concurrency_limit", "concurrency_limit"), ("rate", "rate_limit"), ("burst", "rate_burst"),
    ("max_attempts", "max_attempts"), ("min_backoff", "min_backoff"),
    ("max_backoff", "max_backoff"), ("max_doublings", "max_doublings"),
    ("jitter", "backoff_jitter"), ("lease", "lease"), ("target_url", "target_url"),
    ("dispatch_deadline", "dispatch_deadline"),
)


@queue.command("set")
@click.argument("name")
@click.option("--concurrency-limit", type=OPTIONAL_INT,
              help="Max running at once ('none': no limit).")
@click.option("--rate", type=OPTIONAL_RATE, help="Token-bucket rate, e.g. 100/s or 10/m ('none').")
@click.option("--burst", type=int, help="Token-bucket burst size.")
@click.option("--max-attempts", type=int, help="Attempts before a task is dead (1-1000).")
@click.option("--min-backoff", type=DURATION, help="First retry delay, e.g. 1s.")
@click.option("--max-backoff", type=DURATION, help="Longest retry delay, e.g. 1h.")
@click.option("--max-doublings", type=int, help="How many times the delay may double (0-60).")
@click.option("--jitter", type=float, help="Spread of retry delays, 0 to 1.")
@click.option("--lease", type=DURATION, help="How long a claim lasts without a heartbeat.")
@click.option("--target-url", type=OPTIONAL_TEXT,
              help="POST tasks to this URL ('none': run in-process).")
@click.option("--dispatch-deadline", type=DURATION, help="HTTP timeout per task, e.g. 30s.")
@dsn_option
def queue_set(name, dsn, **options) -> None:
    """Change a queue's policy (creating the queue if needed); only the options given change."""
    settings = {column: None if options[option] is CLEAR else options[option]
                for option, column in SETTINGS if options[option] is not None}
    if not settings:
        raise click.UsageError("nothing to change: give at least one setting (see --help)")
    with connection(dsn) as conn:
        _print_policies([store(conn).configure_queue(conn, name, settings)])


def _set_paused(name: str, paused: bool, dsn: str | None) -> None:
    with connection(dsn) as conn:
        if not store(conn).set_paused(conn, name, paused):
            raise click.ClickException(f"no queue named {name!r} (see `pgtask queue ls`)")
    click.echo(f"queue {name} {'paused' if paused else 'resumed'}")


@queue.command("pause")
@click.argument("name")
@dsn_option
def queue_pause(name, dsn) -> None:
    """Stop claiming from a queue; running tasks finish."""
    _set_paused(name, True, dsn)


@queue.command("resume")
@click.argument("name")
@dsn_option
def queue_resume(name, dsn) -> None:
    """Start claiming from a paused queue again."""
    _set_paused(name, False, dsn)


def register(group: click.Group) -> None:
    for command in (retry, cancel, prune, unstick, queue):
        group.add_command(command)
