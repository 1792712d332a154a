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
def dsn() -> None:
    """Print the embedded Postgres connection string (starting it if needed)."""
    from pgtask.embedded import embedded_dsn

    click.echo(embedded_dsn())


@click.command()
@dsn_option
@click.option("--tasks", "total", default=3000, show_default=True,
              type=click.IntRange(1, 1_000_000))
def demo(dsn: str | None, total: int) -> None:
    """Migrate, enqueue demo tasks, run a worker until they drain, print a summary."""
    from pgtask.cli.worker import setup_logging
    from pgtask.demo import run_demo
    from pgtask.store.migrate import migrate as run_migrations

    setup_logging("error")
    url = resolve_dsn(dsn)
    click.echo(run_migrations(url).describe() + f" on {redact_dsn(url)}")
    run_demo(url, total)


def register(group: click.Group) -> None:
    for command in (migrate, dsn, demo):
        group.add_command(command)
