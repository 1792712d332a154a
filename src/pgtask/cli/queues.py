"""pgtask queue ls|set|pause|resume: each queue's policy, and stopping a queue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import click

from pgtask.cli.common import QUEUE, cell, console, dsn_option
from pgtask.cli.queue_wait import wait_until_drained
from pgtask.cli.units import (
    CLEAR,
    DURATION,
    OPTIONAL_DURATION,
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
from pgtask.store.base import Row
from pgtask.store.operators import open_operator

F = TypeVar("F", bound=Callable[..., Any])


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
            redact_url(q["target_url"]) if q["target_url"] else "–", dur(q["dispatch_deadline"]),
            dur(q.get("max_run_time"))]


POLICY_HEADERS = ("QUEUE", "STATE", "CONCURRENCY", "RATE", "ATTEMPTS", "BACKOFF", "LEASE",
                  "TARGET", "DEADLINE", "MAX RUN")


def _print_policies(rows: list[Row]) -> None:
    from rich.table import Table

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
        return OPTIONAL_DURATION if setting.clearable else DURATION
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
@click.option("--wait", is_flag=True,
              help="Return when the queue's running tasks are done, saying how many ran.")
@click.option("--timeout", type=DURATION, default=None,
              help="With --wait: give up after this long (exit 1), e.g. 5m.")
@dsn_option
def queue_pause(name: str, wait: bool, timeout: timedelta | None, dsn: str | None) -> None:
    """Stop claiming from a queue (creating it, paused, if it has no row); running tasks
    finish."""
    if timeout is not None and not wait:
        raise click.UsageError("--timeout goes with --wait")
    if not wait:
        _set_paused(name, True, dsn)
        return
    with open_operator(dsn) as operator:
        operator.set_paused(name, True)
        drained = wait_until_drained(
            operator, name, None if timeout is None else timeout.total_seconds())
    click.echo(drained.describe(name))
    if drained.still_running:
        raise SystemExit(1)


@queue.command("resume")
@click.argument("name", type=QUEUE)
@dsn_option
def queue_resume(name: str, dsn: str | None) -> None:
    """Start claiming from a paused queue again."""
    _set_paused(name, False, dsn)


def register(group: click.Group) -> None:
    group.add_command(queue)
