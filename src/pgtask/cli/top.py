"""pgtask top: the live console (see pgtask.console)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

import click

from pgtask.cli.common import dsn_option
from pgtask.cli.units import DURATION
from pgtask.config import resolve_dsn
from pgtask.errors import ConfigError, DatabaseUnavailable
from pgtask.store.base import Operator
from pgtask.store.operators import connect_operator

# The console (rich, the renderer, the snapshot maths) loads when `pgtask top` runs, not for
# its --help.
if TYPE_CHECKING:
    from pgtask.console.view import Action
    from pgtask.ops.snapshot import Snapshot

T = TypeVar("T")


class Source:
    """Snapshots from one Operator, reconnecting after the database went away.

    The window keeps the last five minutes of finished work, so each refresh reads only
    the history rows that finished since the previous one.
    """

    def __init__(self, dsn: str) -> None:
        from pgtask.ops.window import Window

        self._dsn = dsn
        self._operator: Operator | None = connect_operator(dsn)  # a failure is the command's
        self._window = Window()

    def _connected(self) -> Operator:
        if self._operator is None:
            try:
                self._operator = connect_operator(self._dsn)
            except ConfigError as exc:  # it answered before: the server is away, not the DSN
                raise DatabaseUnavailable(str(exc)) from exc
        return self._operator

    def _call(self, call: Callable[[Operator], T]) -> T:
        """`call` on the operator; a lost connection is dropped, for the next call to renew."""
        operator = self._connected()
        try:
            return call(operator)
        except DatabaseUnavailable:
            self._operator = None
            operator.close()
            raise

    def take(self) -> Snapshot:
        from pgtask.ops.snapshot import from_rows

        rows = self._call(lambda operator: operator.top_rows(since=self._window.until))
        return from_rows(rows, self._window)

    def act(self, action: Action) -> str:
        paused = action.kind == "pause"
        if not self._call(lambda operator: operator.set_paused(action.queue, paused)):
            return f"queue {action.queue} no longer exists"
        return f"queue {action.queue} {'paused' if paused else 'resumed'}"

    def close(self) -> None:
        if self._operator is not None:
            self._operator.close()
            self._operator = None


@click.command()
@click.option("--once", is_flag=True, help="Print one frame and exit (for scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print one snapshot as JSON and exit.")
@click.option("--interval", type=DURATION, default="1s", show_default=True,
              help="Time between refreshes.")
@click.option("--stale-after", type=DURATION, default="30s", show_default=True,
              help="Flag workers whose last heartbeat is older than this.")
@click.option("--xmin-warn-after", type=DURATION, default="60s", show_default=True,
              help="Warn when a transaction has held the xmin horizon this long "
                   "(MySQL: has been open this long).")
@dsn_option
def top(once: bool, as_json: bool, interval: timedelta, stale_after: timedelta,
        xmin_warn_after: timedelta, dsn: str | None) -> None:
    """Live view of queues, rates, latency, workers and database health.

    Keys: s sort, f filter (Enter to apply, Esc to clear), up/down select a queue,
    p pause/resume it, q quit.
    """
    from rich.console import Console

    from pgtask.console import live
    from pgtask.console.render import render
    from pgtask.console.view import Thresholds

    if interval.total_seconds() < 0.1:
        raise click.BadParameter("must be at least 100ms", param_hint="--interval")
    thresholds = Thresholds(stale_worker=stale_after.total_seconds(),
                            xmin_seconds=xmin_warn_after.total_seconds())
    source = Source(resolve_dsn(dsn))
    try:
        if as_json:
            click.echo(source.take().to_json())
            return
        out = Console(highlight=False)
        if once:
            out.print(render(source.take(), out.width, thresholds=thresholds))
            return
        live.run(source.take, source.act, console=out, interval=interval.total_seconds(),
                 thresholds=thresholds)
    finally:
        source.close()


def register(group: click.Group) -> None:
    group.add_command(top)
