"""pgtask migrate, pgtask dsn, pgtask demo: getting a database ready (and trying it out).

`migrate` refuses, like every command, in one line with exit status 2 (pgtask.cli.main):
e.g. a schema written by a newer pgtask, which alembic alone reports with a traceback.
"""

from __future__ import annotations

import click

from pgtask.cli.common import dsn_option
from pgtask.config import redact_dsn, resolve_dsn


@click.command()
@dsn_option
def migrate(dsn: str | None) -> None:
    """Create or upgrade pgtask's schema (safe to run many times, and concurrently)."""
    from pgtask.store.migrate import migrate as run_migrations

    url = resolve_dsn(dsn)
    report = run_migrations(url)
    click.echo(f"{report.describe()} on {redact_dsn(url)}")


@click.command()
@click.option("--stop", is_flag=True,
              help="Stop the embedded Postgres instead (its data stays; any command restarts it).")
def dsn(stop: bool) -> None:
    """Print the embedded Postgres connection string (starting it if needed)."""
    from pgtask.embedded import embedded_dsn, embedded_pgdata, stop_embedded

    if not stop:
        click.echo(embedded_dsn())
    elif stop_embedded():
        click.echo(f"stopped the embedded Postgres (data kept in {embedded_pgdata()})")
    else:
        click.echo("the embedded Postgres is not running")
        raise SystemExit(1)  # nothing changed


@click.command()
@dsn_option
@click.option("--tasks", "total", default=3000, show_default=True,
              type=click.IntRange(1, 1_000_000))
def demo(dsn: str | None, total: int) -> None:
    """Migrate, enqueue demo tasks, run a worker until they drain, print a summary."""
    from pgtask.cli.worker import setup_logging
    from pgtask.demo import run_demo
    from pgtask.embedded import STILL_RUNNING, embedded_pgdata, is_embedded, running
    from pgtask.store.migrate import migrate as run_migrations

    setup_logging("error")
    url = resolve_dsn(dsn)
    click.echo(run_migrations(url).describe() + f" on {redact_dsn(url)}")
    run_demo(url, total)
    if is_embedded(url) and running():  # left running on purpose: say so, and how to stop it
        click.echo(STILL_RUNNING.format(pgdata=embedded_pgdata()))


def register(group: click.Group) -> None:
    for command in (migrate, dsn, demo):
        group.add_command(command)
