"""The Django app that brings `manage.py pgtask_worker` (INSTALLED_APPS: pgtask.contrib.django)."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]


class PgTaskConfig(AppConfig):  # type: ignore[misc]
    name = "pgtask.contrib.django"
    label = "pgtask"  # the default, "django", would read as Django's own
    verbose_name = "pgtask"

    def ready(self) -> None:
        # Importing the Tasks API registers its system check, which calls each backend's
        # check(): `manage.py check` then reports a TASKS entry pgtask cannot serve.
        try:
            import django.tasks.checks  # type: ignore[import-untyped]  # noqa: F401
        except ImportError:  # the backport registers it only as an installed app
            import django_tasks.checks  # noqa: F401
