"""examples/install.sh (the README's install lines): every extra it names exists in
pyproject.toml, and its last line, `pgtask --version`, prints the package's version."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pgtask

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "examples/install.sh"


def test_every_extra_the_install_lines_name_exists():
    lines = [line for line in SNIPPET.read_text().splitlines() if line.startswith("pip ")]
    named = {extra for line in lines for extra in re.findall(r'"\.\[(\w+)\]"', line)}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert named == {"web", "mysql", "otel", "django"}
    assert named <= set(project["optional-dependencies"])
    assert lines[0].split("#")[0].split() == ["pip", "install", "."]


def test_the_last_line_prints_the_version():
    last = SNIPPET.read_text().splitlines()[-1]
    assert last == "pgtask --version"
    script = shutil.which("pgtask", path=str(Path(sys.executable).parent))
    assert script, "the pgtask console script is installed next to this interpreter"
    run = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60,
                         check=True)
    assert run.stdout == f"pgtask {pgtask.__version__}\n"
