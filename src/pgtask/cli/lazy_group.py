"""A click group that imports a command's module only when that command runs.

`pgtask --help` needs each command's name and one line of help, not its module: importing
every module up front pulled in rich, httpx, asyncio and the store (~0.3 s of a 0.4 s
start-up). The table (pgtask.cli.COMMANDS) holds name -> (module, attribute, first sentence
of help); tests/packaging/test_cli_startup.py checks it against the loaded commands, so it
cannot go stale silently.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import click

__all__ = ["LazyCommand", "LazyGroup"]


class LazyCommand(NamedTuple):
    module: str  # a module of pgtask.cli
    attribute: str  # the click command in it
    help: str  # the first sentence of its help, as `pgtask --help` lists it


class LazyGroup(click.Group):
    """A group whose commands are loaded on first lookup; `on_load` sees each one once."""

    def __init__(self, *args: Any, lazy: Mapping[str, LazyCommand],
                 on_load: Callable[[str, click.Command], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)
        self.on_load = on_load

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(self.load(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def load(self, name: str) -> click.Command:
        entry = self.lazy[name]
        module = importlib.import_module(f"pgtask.cli.{entry.module}")
        command = getattr(module, entry.attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"pgtask.cli.{entry.module}.{entry.attribute} is not a command")
        self.on_load(name, command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing from the table, truncated as click truncates a loaded command's."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is None:  # a stand-in: click's own truncation, without the import
                loaded = click.Command(name, help=self.lazy[name].help)
            if not loaded.hidden:
                rows.append((name, loaded.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
