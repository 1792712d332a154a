"""The one start-up check every command that takes --dsn passes through, before it runs.

It says which database a command uses when none was given (the embedded one, once), refuses
a Postgres-only command on MySQL/MariaDB in one line, and refuses a database that is not
migrated to this package's schema revision — each with exit status 2 and the fix, never a
traceback (pgtask.cli.main prints a PgTaskError in one line).

Wrapping the commands here, once, rather than calling a check in each of them, means a new
command cannot forget it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import click

from pgtask.config import DSN_ENV, backend_of, redact_dsn, resolve_dsn
from pgtask.errors import ConfigError
from pgtask.models import Backend

# Commands that create the schema (no revision to check yet), and the worker, whose own
# preflight (store/preflight.py) checks the revision and its settings, retrying a server
# that is still starting.
NO_SCHEMA_CHECK = frozenset({"migrate", "demo", "worker"})
# Commands only PostgreSQL can serve (store/base.py CAPABILITIES): a group covers its
# subcommands.
POSTGRES_ONLY = frozenset({"serve", "schedule"})
# Invocations that read no database: `pgtask tasks --handlers MODULE` lists the modules' types.
OFFLINE_WITH = {"tasks": "handlers"}


def resolve_announced(dsn: str | None) -> str:
    """The DSN a command uses; when it falls back to the embedded database, say so on
    stderr (stdout stays the command's output, e.g. `pgtask enqueue`'s task id)."""
    if dsn or os.environ.get(DSN_ENV):
        return resolve_dsn(dsn)
    url = resolve_dsn(None)
    click.echo(f"pgtask: no --dsn or ${DSN_ENV} given: using the embedded database at "
               f"{redact_dsn(url)}", err=True)
    # Said once: the processes this one starts (`worker --processes N` children) inherit it.
    os.environ[DSN_ENV] = url
    return url


def postgres_only_refusal(command: str, dsn: str) -> str | None:
    """Why `command` cannot run on `dsn` (one line), or None."""
    if command.split()[0] not in POSTGRES_ONLY or backend_of(dsn) != Backend.MYSQL:
        return None
    return (f"{command} needs PostgreSQL; {redact_dsn(dsn)} is MySQL/MariaDB "
            f"(point --dsn or ${DSN_ENV} at a PostgreSQL database)")


def start(command: str, dsn: str | None) -> str:
    """Run the start-up check for `command` (its path, e.g. 'schedule ls'); return the DSN."""
    url = resolve_announced(dsn)
    refusal = postgres_only_refusal(command, url)
    if refusal:
        raise ConfigError(refusal)
    if command.split()[0] not in NO_SCHEMA_CHECK:
        from pgtask.store.preflight import check_schema

        check_schema(url)
    return url


def _checked(command: str, callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get(OFFLINE_WITH.get(command, "")):
            kwargs["dsn"] = start(command, kwargs.get("dsn"))
        return callback(*args, **kwargs)

    return run


def guard(group: click.Group, path: str = "") -> None:
    """Put the start-up check in front of every command of `group` that takes --dsn."""
    for name, command in group.commands.items():
        guard_command(f"{path} {name}".strip(), command)


def guard_command(path: str, command: click.Command) -> None:
    """Put the start-up check in front of `command` (a group: each of its commands), found
    at `path` (e.g. 'schedule ls'); pgtask.cli's lazy group calls it as a command loads."""
    if isinstance(command, click.Group):
        guard(command, path)
    elif command.callback is not None and any(p.name == "dsn" for p in command.params):
        command.callback = _checked(path, command.callback)
