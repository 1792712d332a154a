"""Options and helpers shared by the command modules."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from rich.console import Console

dsn_option = click.option(
    "--dsn",
    envvar="PGTASK_DSN",
    default=None,
    help="Database URL (default: $PGTASK_DSN, else the embedded Postgres).",
)


def console() -> Console:
    """Rich output to the current stdout (click's test runner swaps it).

    A pipe or file gets 200 columns, so that scripts see whole values, not ellipses.
    """
    out = Console(highlight=False)
    return out if out.is_terminal else Console(highlight=False, width=max(out.width, 200))


def when(value: datetime | str | None) -> str:
    """A timestamp to the second; JSON timestamps (in error entries) come as ISO strings."""
    if isinstance(value, str):
        return value[:19].replace("T", " ")
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else "–"


def to_json(value: Any, indent: int | None = 2) -> str:
    """JSON with timestamps in ISO 8601 (and anything else unusual as text)."""
    return json.dumps(value, indent=indent,
                      default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))
