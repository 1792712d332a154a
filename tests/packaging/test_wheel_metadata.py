"""The wheel is packaged like a well-kept library: LICENSE, py.typed, classifiers, project
URLs, and the version from the one file that holds it."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import pgtask

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    return zipfile.ZipFile(next(out.glob("pgtask-*.whl")))


@pytest.fixture(scope="module")
def metadata(wheel):
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    return Parser().parsestr(wheel.read(name).decode())


def test_the_wheel_ships_py_typed_and_the_license(wheel):
    names = set(wheel.namelist())
    assert "pgtask/py.typed" in names  # PEP 561: type checkers use pgtask's annotations
    license_file = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    text = wheel.read(license_file).decode()
    assert text.startswith("MIT License") and "Copyright (c) 2026 the pgtask authors" in text


def test_the_metadata_carries_version_license_classifiers_and_urls(metadata):
    assert metadata["Version"] == pgtask.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    classifiers = set(metadata.get_all("Classifier"))
    for needed in ("Framework :: Django", "Framework :: AsyncIO", "Typing :: Typed",
                   "Programming Language :: Python :: 3.11",
                   "Programming Language :: Python :: 3.12",
                   "Programming Language :: Python :: 3.13",
                   "Topic :: System :: Distributed Computing", "Topic :: Database"):
        assert needed in classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    # PEP 639: License-Expression replaces the license classifier (deprecated beside it).
    assert not any(c.startswith("License :: ") for c in classifiers)
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    assert all(re.match(r"https://github\.com/pgtask/pgtask(/|$)", u) for u in urls.values())
    assert metadata["Keywords"] and metadata["Author"]


def test_the_installed_wheel_reports_its_version(wheel, tmp_path):
    site = tmp_path / "site"
    wheel.extractall(site)
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from pgtask.cli import main; main(['--version'])"],
        cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"pgtask {pgtask.__version__}\n"
