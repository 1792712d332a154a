"""--log-level and --log-format, shared by `pgtask worker` and `pgtask serve`.

Both also read the environment (PGTASK_LOG_LEVEL, PGTASK_LOG_FORMAT), which is how
containers and unit files set them; a wrong value there stops the command with a message
that names the variable, rather than logging in a format the collector cannot read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

__all__ = ["FORMAT_ENV", "LEVELS", "LEVEL_ENV", "log_options"]

F = TypeVar("F", bound=Callable[..., object])
LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")  # = pgtask.logs.FORMATS, not imported: keep `--help` light
LEVEL_ENV = "PGTASK_LOG_LEVEL"
FORMAT_ENV = "PGTASK_LOG_FORMAT"


def _choice(allowed: tuple[str, ...], env: str) -> Callable[..., str]:
    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        text = value.strip().lower()
        if text in allowed:
            return text
        source = ctx.get_parameter_source(param.name or "")
        where = (f"{env}={value!r}" if source is click.core.ParameterSource.ENVIRONMENT
                 else repr(value))
        raise click.BadParameter(f"{where} is not one of {', '.join(allowed)}")
    return check


def log_options(command: F) -> F:
    """Add --log-level and --log-format (passed as log_level, log_format)."""
    command = click.option(
        "--log-format", default="text", show_default=True, envvar=FORMAT_ENV,
        callback=_choice(FORMATS, FORMAT_ENV), metavar="[text|json]",
        help=f"text for people, json for log collectors: one object per line (env "
             f"{FORMAT_ENV}).")(command)
    return click.option(
        "--log-level", default="info", show_default=True, envvar=LEVEL_ENV,
        callback=_choice(LEVELS, LEVEL_ENV), metavar="[" + "|".join(LEVELS) + "]",
        help=f"Least severe level logged (env {LEVEL_ENV}).")(command)
