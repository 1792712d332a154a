"""Options and helpers shared by the command modules."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from pgtask.cli.units import ParamType
from pgtask.models import validate_name
from pgtask.redact import printable, printable_json
from pgtask.undecodable import RawJson

# rich is imported where output is made: `pgtask <command> --help` never needs it (~25 ms).
if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

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
    from rich.console import Console

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


def cell(value: object, *, multiline: bool = False) -> Text:
    """A data value for a rich table or print: control characters made visible, and as Text,
    so that '[red]' or '[link=...]' in it is shown, never interpreted as markup."""
    from rich.text import Text

    return Text(printable(value, multiline=multiline))


def json_block(value: Any) -> Text:
    """A JSON value indented and highlighted, non-ASCII as is but nothing a terminal acts on
    (json escapes C0 controls; C1, DEL and bidi controls are escaped here).

    A stored value Python could not load (undecodable.RawJson) is shown as its text, with the
    reason."""
    from rich.highlighter import JSONHighlighter
    from rich.text import Text

    if isinstance(value, RawJson):
        return Text(printable(value, multiline=True)).append(
            f"\n(shown as stored: {printable(value.reason)})", style="dim")
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError) as exc:  # a row no writer should have made
        return Text(f"<cannot display this value: {type(exc).__name__}>", style="red")
    return JSONHighlighter()(Text(printable_json(text)))


class Name(ParamType):
    """A queue, task type or schedule name, checked as SQL checks it (pgtask.models): a bad
    one, '' included, is a usage error (exit 2) before anything connects."""

    name = "name"

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        try:
            return validate_name(self.kind, value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


QUEUE = Name("queue")
TASK_TYPE = Name("task type")
SCHEDULE = Name("schedule name")
