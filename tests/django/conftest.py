"""Fixtures for the Django backend tests: Django runs in subprocesses (tests/django/scenario.py
and the workers), each configured for this test's own database by environment variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.waiting import SCALE
from tests.support.workers import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "tests.django.project.settings"
SIGNALS_ENV = "PGTASK_TEST_DJANGO_SIGNALS"  # where tests/django/project/receivers.py records


def django_env(dsn: str) -> dict[str, str]:
    """The environment of a Django process on `dsn`. No PGTASK_DSN: the worker must find
    its database in Django's settings."""
    env = {k: v for k, v in os.environ.items() if k != "PGTASK_DSN"}
    env.update(PGTASK_TEST_DJANGO_DSN=dsn, DJANGO_SETTINGS_MODULE=SETTINGS,
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    return env


def run_scenario(env: dict[str, str], *args: str, python: str = sys.executable) -> Any:
    done = subprocess.run([python, "-m", "tests.django.scenario", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120 * SCALE)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class DjangoWorker(WorkerProcess):
    """WorkerProcess (log, wait, stop) on an argv and environment of the test's own."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        # Kept open for the process's life and closed by stop(), as WorkerProcess does.
        self.log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="pgtask-django-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=self.log_file,
                                     stderr=subprocess.STDOUT)


@pytest.fixture
def start_worker() -> Iterator[Any]:
    """Factory: start_worker(argv, env) runs a worker subprocess; stopped after the test."""
    started: list[DjangoWorker] = []

    def start(argv: list[str], env: dict[str, str]) -> DjangoWorker:
        worker = DjangoWorker(argv, env)
        started.append(worker)
        return worker

    start.started = started  # type: ignore[attr-defined]
    yield start
    for worker in started:
        worker.stop()
