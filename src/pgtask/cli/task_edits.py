"""pgtask delete, pgtask update, pgtask errors: change a queued task before it runs, and
list the tasks that failed at least once (whatever became of them since)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from pgtask.cli.common import QUEUE, cell, dsn_option, to_json, when
from pgtask.cli.tasklines import message_cell, print_page, state_cell
from pgtask.cli.units import CLEAR, DURATION, OPTIONAL_INT
from pgtask.errors import Refused
from pgtask.store.base import Row
from pgtask.store.operators import open_operator


@click.command()
@click.argument("ids", nargs=-1, type=int, required=True)
@dsn_option
def delete(ids: tuple[int, ...], dsn: str | None) -> None:
    """Delete queued tasks, as if never enqueued (no history; the idempotency key is free).

    A running task is cancelled instead (pgtask cancel); a finished one stays in history
    until pgtask prune. Exits 1, saying why for each, when a task was not deleted.
    """
    deleted, problems = 0, []
    with open_operator(dsn) as operator:
        for task_id in dict.fromkeys(ids):
            try:
                if operator.delete_task(task_id):
                    deleted += 1
                else:
                    problems.append(f"task {task_id}: no such task (it may have been pruned)")
            except Refused as exc:
                problems.append(str(exc))
    click.echo(f"deleted {deleted:,} of {len(set(ids)):,} task(s)")
    for line in problems:
        click.echo(line, err=True)
    if problems:
        raise click.ClickException(f"{len(problems):,} task(s) not deleted")


def changes_of(payload: str | None, priority: int | None, run_at: str | None,
               delay: timedelta | None, queue: str | None, max_attempts: Any) -> dict[str, Any]:
    """What `pgtask update` asks to change, as update_task takes it (pure; UsageError)."""
    changes: dict[str, Any] = {}
    if payload is not None:
        try:
            changes["payload"] = json.loads(payload)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--payload") from None
    if run_at is not None and delay is not None:
        raise click.UsageError("give --run-at or --delay, not both")
    if run_at is not None:
        changes["run_at"] = None if run_at == "now" else _moment(run_at)
    if delay is not None:
        changes["run_at"] = datetime.now(UTC) + delay
    if priority is not None:
        changes["priority"] = priority
    if queue is not None:
        changes["queue"] = queue
    if max_attempts is not None:
        changes["max_attempts"] = None if max_attempts is CLEAR else max_attempts
    if not changes:
        raise click.UsageError("say what to change: --payload, --priority, --run-at/--delay, "
                               "--queue or --max-attempts")
    return changes


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("use an ISO 8601 time, e.g. 2026-01-31T09:00:00Z, or 'now'",
                                 param_hint="--run-at") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.argument("task_id", type=int)
@click.option("--payload", help="The new payload: a JSON object (replaces the old one).")
@click.option("--priority", type=int, help="-1000..1000, higher first.")
@click.option("--run-at", help="When it may run: an ISO 8601 time (UTC if no zone), or 'now'.")
@click.option("--delay", type=DURATION, help="Run after this long from now, e.g. 10m.")
@click.option("--queue", type=QUEUE, help="Move it to this queue.")
@click.option("--max-attempts", type=OPTIONAL_INT, help="1..1000, or 'none': the queue's.")
@click.option("--json", "as_json", is_flag=True, help="Print the changed task as JSON.")
@dsn_option
def update(task_id: int, payload: str | None, priority: int | None, run_at: str | None,
           delay: timedelta | None, queue: str | None, max_attempts: Any, as_json: bool,
           dsn: str | None) -> None:
    """Change a queued task before it runs. A running or finished task is refused (exit 1)."""
    changes = changes_of(payload, priority, run_at, delay, queue, max_attempts)
    with open_operator(dsn) as operator:
        try:
            task = operator.update_task(task_id, changes)
        except Refused as exc:
            raise click.ClickException(str(exc)) from None
    if task is None:
        raise click.ClickException(f"no task {task_id} (it may have been pruned)")
    if as_json:
        click.echo(to_json(task, indent=None))
        return
    click.echo(f"updated task {task_id}: " + ", ".join(
        f"{key}={to_json(task[key], indent=None)}" for key in changes))


@click.command("errors")
@click.option("--queue", type=QUEUE, help="Only tasks of this queue.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--before", type=click.IntRange(1), default=None,
              help="Start below this task id (the previous page's last).")
@click.option("--full", is_flag=True, help="Whole errors (tracebacks), not their last line.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@dsn_option
def errors(queue: str | None, limit: int, before: int | None, full: bool, as_json: bool,
           dsn: str | None) -> None:
    """Tasks that failed at least once, in any state (retrying, dead, even succeeded at a
    later attempt), newest first, with how often and their last error."""
    with open_operator(dsn) as operator:
        rows = operator.errored_tasks(queue=queue, before=before, limit=limit)
    print_page(rows, as_json=as_json, full=full, limit=limit, empty="no task has failed",
               cursor="before",
               headers=("ID", "QUEUE", "TYPE", "STATE", "ATTEMPT", "FAILURES", "FAILED AT",
                        "ERROR"),
               line=lambda r: [cell(r["id"]), cell(r["queue"]), cell(r["task_type"]),
                               state_cell(r["state"]), cell(_attempts(r)), cell(r["failures"]),
                               cell(when(r["failed_at"])), message_cell(r["error"], full=full)])


def _attempts(r: Row) -> str:
    return f"{r['attempt']}/{r['max_attempts']}" if r["max_attempts"] else str(r["attempt"])


def register(group: click.Group) -> None:
    for command in (delete, update, errors):
        group.add_command(command)
