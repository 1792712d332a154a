"""pgtask top: the live console (see pgtask.console)."""

from __future__ import annotations

import click
import psycopg
from rich.console import Console

from pgtask.cli.common import dsn_option
from pgtask.cli.inspect import checked, store_for
from pgtask.cli.units import DURATION
from pgtask.config import resolve_dsn
from pgtask.console import live
from pgtask.console.render import render
from pgtask.console.view import Action, Thresholds
from pgtask.ops.snapshot import Snapshot, from_rows
from pgtask.ops.window import Window
from pgtask.store.postgres import admin, inspect
from pgtask.store.postgres.schema import connect


class Source:
    """Snapshots from one connection, reconnecting after the database went away.

    The window keeps the last five minutes of finished work, so each refresh reads only
    the history rows that finished since the previous one.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn = checked(dsn)  # psycopg, or PyMySQL for a mysql:// DSN
        self._window = Window()

    def _connection(self):
        if isinstance(self._conn, psycopg.Connection):
            if self._conn.closed or self._conn.broken:
                self._conn = connect(self._dsn)
        elif not self._conn.open:
            from pgtask.store.mysql.schema import connect as connect_mysql

            self._conn = connect_mysql(self._dsn)
        return self._conn

    def take(self) -> Snapshot:
        conn = self._connection()
        if isinstance(conn, psycopg.Connection):
            rows = inspect.top_rows(conn, since=self._window.until)
        else:  # the same rows, from MySQL (PyMySQL is optional: imported only here)
            from pgtask.store.mysql.snapshot import top_rows

            rows = top_rows(conn, since=self._window.until)
        return from_rows(rows, self._window)

    def act(self, action: Action) -> str:
        paused = action.kind == "pause"
        conn = self._connection()
        if not store_for(conn, admin).set_paused(conn, action.queue, paused):
            return f"queue {action.queue} no longer exists"
        return f"queue {action.queue} {'paused' if paused else 'resumed'}"

    def close(self) -> None:
        if isinstance(self._conn, psycopg.Connection) or self._conn.open:
            self._conn.close()


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
