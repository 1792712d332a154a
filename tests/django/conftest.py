"""Fixtures for the Django backend tests: Django runs in subprocesses (tests/django/scenario.py
and the workers), each configured for this test's own database by environment variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.waiting import SCALE

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "tests.django.project.settings"


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


class DjangoWorker:
    """A worker subprocess (its log in a file under tmp_path), stopped by the fixture."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out,
                                         stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Any]:
    """Factory: start_worker(argv, env) runs a worker subprocess; stopped after the test."""
    started: list[DjangoWorker] = []

    def start(argv: list[str], env: dict[str, str]) -> DjangoWorker:
        worker = DjangoWorker(argv, env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
