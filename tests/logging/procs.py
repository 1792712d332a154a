"""Run `pgtask` subprocesses whose stderr goes to a file, and read it as JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict[str, str]:
    """The environment of a child that runs this checkout's pgtask (PYTHONPATH=src first,
    so PYTHONPATH=/tmp/base18/src in the parent runs the old code for before/after)."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    paths = paths or [str(ROOT / "src")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, str(ROOT)]), **extra}


class Pgtask:
    """`python -m pgtask ARGS` with stderr (and stdout) in a temporary file."""

    def __init__(self, *args: str, extra_env: dict[str, str] | None = None) -> None:
        # Open for the process's life, closed by stop(): no `with` fits.
        self.file = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="pgtask-log-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([sys.executable, "-m", "pgtask", *args],
                                     stdout=self.file, stderr=subprocess.STDOUT,
                                     env=env(**(extra_env or {})), cwd=ROOT)

    def text(self) -> str:
        return Path(self.file.name).read_text(errors="replace")

    def lines(self) -> list[dict[str, Any]]:
        """Every line parsed as JSON (fails on the first line that is not)."""
        out = []
        for line in self.text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise AssertionError(f"not a JSON line: {line!r}\n{self.text()}") from exc
        return out

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == event]

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.file.close()
        return self.proc.returncode


def run(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgtask", *args], capture_output=True,
                          text=True, env=env(**(extra_env or {})), cwd=ROOT, timeout=60)
