"""The pgtask command line: one click group, commands in the modules of this package.

Each module defines its commands and a `register(group)` function; add a module to
COMMAND_MODULES to add its commands.
"""

from __future__ import annotations

import importlib
import sys

import click

from pgtask.cli.startup import guard
from pgtask.errors import DatabaseUnavailable, PgTaskError

COMMAND_MODULES = ("schema", "worker", "inspect", "admin", "task_edits", "queues", "top",
                   "schedule", "serve")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pgtask")
def cli() -> None:
    """pgtask: a Postgres-native background task queue."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(cli)
guard(cli)  # the one start-up check (cli/startup.py), in front of every command


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DatabaseUnavailable as exc:  # the server went away while a command ran
        click.echo(f"pgtask: database error: {exc}", err=True)
        sys.exit(2)
    except PgTaskError as exc:
        click.echo(f"pgtask: {exc}", err=True)
        sys.exit(2)
