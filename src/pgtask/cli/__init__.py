"""The pgtask command line: one click group, commands in the modules of this package.

Commands load lazily (cli/lazy_group.py): a command's module is imported when that command
runs, so `pgtask --help` and `pgtask <command> --help` start in a fraction of the time. To add
a command, add a row to COMMANDS (tests/packaging/test_cli_startup.py checks the table
against the modules).
"""

from __future__ import annotations

import sys

import click

from pgtask._version import __version__
from pgtask.cli.lazy_group import LazyCommand, LazyGroup
from pgtask.cli.startup import guard_command
from pgtask.errors import DatabaseUnavailable, PgTaskError

__all__ = ["COMMANDS", "cli", "main"]

_C = LazyCommand
COMMANDS = {
    "migrate": _C("schema", "migrate",
                  "Create or upgrade pgtask's schema (safe to run many times, and concurrently)."),
    "dsn": _C("schema", "dsn",
              "Print the embedded Postgres connection string (starting it if needed)."),
    "demo": _C("schema", "demo",
               "Migrate, enqueue demo tasks, run a worker until they drain, print a summary."),
    "worker": _C("worker", "worker", "Run tasks: claim, execute the registered handlers (or "
                 "POST HTTP targets), record outcomes."),
    "enqueue": _C("worker", "enqueue", "Put a task on a queue and print its id."),
    "run": _C("worker", "run_once",
              "Run one handler in-process, without the queue (for development)."),
    "tasks": _C("worker", "list_tasks", "List the task types workers registered: options, the "
                "live workers that run each, and when one was last seen (with --handlers: what "
                "the modules define)."),
    "ls": _C("inspect", "ls",
             "List tasks by id, a page at a time (the last line gives the next page's option)."),
    "show": _C("inspect", "show", "Everything about one task: fields, payload, result, errors, "
               "logs, HTTP attempts."),
    "stats": _C("inspect", "stats", "How many tasks each queue has in each state, and why a "
                "queue's tasks wait."),
    "retry": _C("admin", "retry",
                "Put dead or cancelled tasks back on their queue with fresh attempts."),
    "cancel": _C("admin", "cancel", "Stop unfinished tasks: queued ones never run, running "
                 "ones lose their lease."),
    "prune": _C("admin", "prune", "Delete finished tasks (with their keys and logs) that "
                "finished long enough ago."),
    "unstick": _C("admin", "unstick", "Rescue now the running tasks whose lease has expired "
                  "(workers also do this)."),
    "delete": _C("task_edits", "delete", "Delete queued tasks, as if never enqueued (no "
                 "history; the idempotency key is free)."),
    "update": _C("task_edits", "update", "Change a queued task before it runs."),
    "errors": _C("task_edits", "errors", "Tasks that failed at least once, in any state "
                 "(retrying, dead, even succeeded at a later attempt), newest first, with how "
                 "often and their last error."),
    "queue": _C("queues", "queue", "List queues and change their policy."),
    "top": _C("top", "top", "Live view of queues, rates, latency, workers and database health."),
    "schedule": _C("schedule", "schedule",
                   "Tasks enqueued on time: cron expressions or fixed intervals."),
    "serve": _C("serve", "serve", "Serve the HTTP API, the web dashboard and Prometheus /metrics."),
}


# guard_command: the one start-up check (cli/startup.py), in front of each command as it loads.
@click.group(cls=LazyGroup, lazy=COMMANDS, on_load=guard_command,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pgtask", message="%(prog)s %(version)s")
def cli() -> None:
    """pgtask: a Postgres-native background task queue."""


def main(args: list[str] | None = None) -> None:
    try:
        cli(args, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DatabaseUnavailable as exc:  # the server went away while a command ran
        _fatal(f"pgtask: database error: {exc}")
        sys.exit(2)
    except PgTaskError as exc:
        _fatal(f"pgtask: {exc}")
        sys.exit(2)


def _fatal(text: str) -> None:
    """Say why the command stops: a JSON line when it logs JSON (--log-format json)."""
    from pgtask.logs import log_fatal

    if not log_fatal(text):
        click.echo(text, err=True)
