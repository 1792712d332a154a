"""The pgtask command line."""

from __future__ import annotations

import sys

import click

from .config import redact_dsn, resolve_dsn
from .errors import PgTaskError

dsn_option = click.option(
    "--dsn",
    envvar="PGTASK_DSN",
    default=None,
    help="Database URL (default: $PGTASK_DSN, else the embedded Postgres).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pgtask")
def cli() -> None:
    """pgtask: a Postgres-native background task queue."""


@cli.command()
@dsn_option
def migrate(dsn: str | None) -> None:
    """Create or upgrade pgtask's schema (safe to run many times, and concurrently)."""
    from .store.migrate import migrate as run_migrations

    url = resolve_dsn(dsn)
    report = run_migrations(url)
    click.echo(f"{report.describe()} on {redact_dsn(url)}")


@cli.command()
def dsn() -> None:
    """Print the embedded Postgres connection string (starting it if needed)."""
    from .embedded import embedded_dsn

    click.echo(embedded_dsn())


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PgTaskError as exc:
        click.echo(f"pgtask: {exc}", err=True)
        sys.exit(2)
