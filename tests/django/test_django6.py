"""The same scenario under Django 6.1's built-in django.tasks (Python >= 3.12): a venv
built once and reused while its stamp matches (under the test venv: <sys.prefix>/django6)."""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.django.conftest import ROOT, django_env
from tests.django.test_backend import check_scenario

CI = os.environ.get("CI", "").lower() == "true"
REQUIREMENTS = ["django>=6.1,<6.2", "psycopg[binary]>=3.2"]
VENV = Path(sys.prefix) / "django6"


def _python312() -> str | None:
    """A Python >= 3.12 on PATH or under pyenv (Django 6 needs it; the suite runs on 3.11)."""
    candidates = [shutil.which(name) for name in ("python3.13", "python3.12")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    return None


def _django6_venv(base: str) -> Path:
    """<VENV>/bin/python with Django 6.1 and this checkout (-e); rebuilt when the stamp (what
    was asked for, from where, by which Python) changes. A lock: xdist workers share it."""
    stamp = "\n".join([*REQUIREMENTS, f"-e {ROOT}", base, "1"])
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / "django6.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp_file, python = VENV / "pgtask-stamp", VENV / "bin" / "python"
        if not (python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp):
            subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS,
                            "-e", str(ROOT)], check=True, timeout=600)
            stamp_file.write_text(stamp)
    return python


@pytest.mark.slow
@pytest.mark.timeout(900)  # a fresh clone builds the venv first (~35 s here; pip may be slow)
def test_django_6_1_builtin_tasks(dsn, db, start_worker, tmp_path):
    base = _python312()
    if base is None:
        if CI:
            pytest.fail("CI=true but no Python >= 3.12 found (PATH, ~/.pyenv) for Django 6.1")
        pytest.skip("no Python >= 3.12 found (PATH, ~/.pyenv): Django 6.1 needs it")
    python = str(_django6_venv(base))
    results = check_scenario(django_env(dsn), db, start_worker, tmp_path / "signals.jsonl",
                             python=python)
    assert {r["django"][:4] for r in results.values()} == {"6.1."}
    assert {r["api"] for r in results.values()} == {"django.tasks.base"}  # not the backport
