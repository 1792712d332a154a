"""pgtask schedule ls|add|rm|enable|disable|run-now: tasks enqueued on time.

Every worker runs the scheduler; one at a time leads and enqueues each fire time exactly
once. These commands only change the schedules table: the leader sees a change at its
next tick.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import click

from pgtask.cli.common import QUEUE, SCHEDULE, TASK_TYPE, cell, console, dsn_option, when
from pgtask.cli.units import DURATION, format_duration
from pgtask.config import resolve_dsn
from pgtask.errors import DatabaseUnavailable, Refused, SchemaError
from pgtask.schedules import CronError, ScheduleDef, Timing
from pgtask.store.base import Row
from pgtask.store.sessions import Schedules, open_schedules

T = TypeVar("T")
Call = Callable[[Schedules], Awaitable[T]]


def _run(dsn: str | None, action: Call[T]) -> T:
    """Run one store call on a session of its own; database refusals become clean errors
    (on MySQL, Unsupported says in one line that schedules need PostgreSQL)."""
    import asyncio  # here: `pgtask schedule --help` needs neither asyncio nor rich

    async def call() -> T:
        async with open_schedules(resolve_dsn(dsn)) as session:
            return await action(session)

    try:
        return asyncio.run(call())
    except (SchemaError, Refused, DatabaseUnavailable) as exc:
        raise click.ClickException(str(exc)) from None


def _timing(row: Row) -> str:
    return row["cron"] if row["cron"] else f"every {format_duration(row['every'])}"


def _next_fire(row: Row) -> str:
    """The stored next fire time, or (before the scheduler's first look) the one it will pick."""
    if not row["enabled"]:
        return "-"
    if row["next_fire_at"] is not None:
        return when(row["next_fire_at"])
    try:
        timing = Timing(row["cron"], row["every"], row["time_zone"], row["anchor_at"])
    except CronError as exc:
        return f"invalid: {exc}"
    return when(timing.next_after(row["updated_at"]))


@click.group()
def schedule() -> None:
    """Tasks enqueued on time: cron expressions or fixed intervals."""


@schedule.command("ls")
@dsn_option
def ls(dsn: str | None) -> None:
    """List schedules with their next and last fire times (UTC)."""
    from rich.table import Table

    rows = _run(dsn, lambda session: session.list_all())
    if not rows:
        click.echo("no schedules (add one with 'pgtask schedule add')")
        return
    table = Table(box=None)
    for column in ("name", "when", "time zone", "task type", "queue", "enabled", "catch up",
                   "next fire", "last fire"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*map(cell, (
            row["name"], _timing(row), row["time_zone"], row["task_type"], row["queue"],
            "yes" if row["enabled"] else "no", str(row["catch_up"] or "skip"), _next_fire(row),
            when(row["last_fire_at"]) if row["last_fire_at"] else "-")))
    console().print(table)


@schedule.command("add")
@click.argument("name", type=SCHEDULE)
@click.argument("task_type", type=TASK_TYPE)
@click.option("--cron", help="5 fields (minute hour day month weekday) or @hourly, @daily, ...")
@click.option("--every", type=DURATION, help="A fixed interval instead: 30s, 5m, 1h, 1d.")
@click.option("--tz", "time_zone", default="UTC", show_default=True,
              help="IANA time zone the cron expression is read in, e.g. Europe/Berlin.")
@click.option("--payload", default="{}", help="The tasks' payload, a JSON object.")
@click.option("--queue", type=QUEUE, default="default", show_default=True)
@click.option("--priority", type=int, default=0, show_default=True)
@click.option("--max-attempts", type=int, default=None)
@click.option("--catch-up", type=int, default=0, show_default=True,
              help="Missed fire times (scheduler down) to enqueue anyway, latest first; "
                   "0 skips them.")
@click.option("--grace", type=DURATION, default="1m", show_default=True,
              help="How late a fire time may be and still count as on time.")
@click.option("--disabled", is_flag=True, help="Create it switched off.")
@dsn_option
def add(name: str, task_type: str, cron: str | None, every: timedelta | None, time_zone: str,
        payload: str, queue: str, priority: int, max_attempts: int | None, catch_up: int,
        grace: timedelta, disabled: bool, dsn: str | None) -> None:
    """Create schedule NAME enqueueing TASK_TYPE (or replace it, keeping its place in time)."""
    try:
        definition = ScheduleDef(
            name=name, task_type=task_type, cron=cron, every=every, time_zone=time_zone,
            payload=json.loads(payload), queue=queue, priority=priority,
            max_attempts=max_attempts, catch_up=catch_up, grace=grace,
            enabled=False if disabled else None)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--payload") from None
    except (ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from None
    row = _run(dsn, lambda session: session.add(definition))
    click.echo(f"schedule {row['name']}: {_timing(row)} ({row['time_zone']}) -> {row['task_type']}"
               f" on {row['queue']}; next fire {_next_fire(row)} UTC")


def _named(verb: str, action: Callable[[Schedules, str], Awaitable[bool]]
           ) -> Callable[..., None]:
    """A command NAME that changes one schedule and says whether it existed."""

    @click.argument("name", type=SCHEDULE)
    @dsn_option
    def command(name: str, dsn: str | None) -> None:
        if not _run(dsn, lambda session: action(session, name)):
            raise click.ClickException(f"no schedule named {name!r} (see 'pgtask schedule ls')")
        click.echo(f"schedule {name} {verb}")

    return command


schedule.command("rm", help="Delete schedule NAME.")(
    _named("removed", lambda session, name: session.remove(name)))
schedule.command("enable", help="Switch schedule NAME on; it resumes from now (no catch-up).")(
    _named("enabled", lambda session, name: session.set_enabled(name, True)))
schedule.command("disable", help="Switch schedule NAME off.")(
    _named("disabled", lambda session, name: session.set_enabled(name, False)))


@schedule.command("run-now")
@click.argument("name", type=SCHEDULE)
@dsn_option
def run_now(name: str, dsn: str | None) -> None:
    """Enqueue schedule NAME's task right away (its own fire times are unchanged)."""
    task_id = _run(dsn, lambda session: session.run_now(name))
    click.echo(f"enqueued task {task_id}")


def register(group: click.Group) -> None:
    group.add_command(schedule)
