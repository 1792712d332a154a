"""pgtask top: the live console (see pgtask.console)."""

from __future__ import annotations

import click
import psycopg
from rich.console import Console

from ..config import resolve_dsn
from ..console import live
from ..console.render import render
from ..console.snapshot import Snapshot, from_rows
from ..console.view import Action, Thresholds
from ..console.window import Window
from ..store import admin
from ..store.inspect import top_rows
from ..store.schema_check import connect, connect_checked
from .common import dsn_option
from .units import DURATION


class Source:
    """Snapshots from one connection, reconnecting after the database went away.

    The window keeps the last five minutes of finished work, so each refresh reads only
    the history rows that finished since the previous one.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection | None = connect_checked(dsn)
        self._window = Window()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self._dsn)
        return self._conn

    def take(self) -> Snapshot:
        rows = top_rows(self._connection(), since=self._window.until)
        return from_rows(rows, self._window)

    def act(self, action: Action) -> str:
        paused = action.kind == "pause"
        if not admin.set_paused(self._connection(), action.queue, paused):
            return f"queue {action.queue} no longer exists"
        return f"queue {action.queue} {'paused' if paused else 'resumed'}"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@click.command()
@click.option("--once", is_flag=True, help="Print one frame and exit (for scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print one snapshot as JSON and exit.")
@click.option("--interval", type=DURATION, default="1s", show_default=True,
              help="Time between refreshes.")
@click.option("--stale-after", type=DURATION, default="30s", show_default=True,
              help="Flag workers whose last heartbeat is older than this.")
@click.option("--xmin-warn-after", type=DURATION, default="60s", show_default=True,
              help="Warn when a transaction has held the xmin horizon this long.")
@dsn_option
def top(once, as_json, interval, stale_after, xmin_warn_after, dsn) -> None:
    """Live view of queues, rates, latency, workers and database health.

    Keys: s sort, f filter (Enter to apply, Esc to clear), up/down select a queue,
    p pause/resume it, q quit.
    """
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
