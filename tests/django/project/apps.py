"""The test project's app: its ready() connects the signal receivers (receivers.py)."""

from django.apps import AppConfig


class ProjectConfig(AppConfig):
    name = "tests.django.project"
    label = "pgtask_test_project"

    def ready(self):
        from tests.django.project import receivers

        receivers.connect()
