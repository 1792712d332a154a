"""pgtask migrate, pgtask dsn."""

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


def register(group: click.Group) -> None:
    group.add_command(migrate)
    group.add_command(dsn)
