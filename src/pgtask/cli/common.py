"""Options and helpers shared by the command modules."""

from __future__ import annotations

import click

dsn_option = click.option(
    "--dsn",
    envvar="PGTASK_DSN",
    default=None,
    help="Database URL (default: $PGTASK_DSN, else the embedded Postgres).",
)
