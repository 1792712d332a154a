"""`pgtask worker --django SETTINGS_MODULE`: the option, as a decorator for the command.

Kept free of Django imports: the CLI imports it at start-up, Django loads only when the
option is given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["django_option"]


def _setup(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if not value:
        return
    from pgtask.contrib.django.worker import setup

    try:
        setup(value)
    except ImportError as exc:  # Django missing, or the settings module not importable
        raise click.BadParameter(f"{exc} (pip install 'pgtask[django]'; is the module "
                                 f"importable from the current directory?)") from None


def django_option(command: F) -> F:
    """Add --django: set DJANGO_SETTINGS_MODULE, django.setup(), run the project's tasks."""
    return click.option(
        "--django", "django_settings", metavar="SETTINGS_MODULE", expose_value=False,
        callback=_setup, is_eager=True,
        help="Run this Django project's tasks (on a pgtask.contrib.django.PgTaskBackend), "
             "e.g. mysite.settings; the DSN defaults to the backend's database.")(command)
