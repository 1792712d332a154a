"""`python manage.py pgtask_worker [pgtask worker options]`: the project's pgtask worker.

Every argument goes to `pgtask worker` (see `manage.py pgtask_worker --help`); the project's
pgtask-backed tasks are its handlers and its database, by default, the backend's."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand  # type: ignore[import-untyped]


class Command(BaseCommand):  # type: ignore[misc]
    help = "Run a pgtask worker for this project's tasks (takes pgtask worker's options)."

    def run_from_argv(self, argv: list[str]) -> None:
        # pgtask worker parses its own options: Django's parser would refuse them. manage.py
        # has already applied --settings and --pythonpath.
        self.handle(*argv[2:])

    def handle(self, *args: Any, **options: Any) -> None:
        from pgtask.cli.worker import worker
        from pgtask.contrib.django.worker import prepare

        prepare()
        worker.main(args=[str(a) for a in args], prog_name="manage.py pgtask_worker")
