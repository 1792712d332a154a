"""deploy/: the files are not built or run here (no Docker daemon, no systemd in CI), so
what can be checked without them is: the unit passes `systemd-analyze verify` and says
what a graceful stop needs; compose.yaml and the Dockerfile parse; and every pgtask
command line in them is a real command with real options (`pgtask ... --help` exits 0, a
stale flag exits 2), so a renamed option breaks this test, not a deployment.

Before: no deploy/ directory."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from pgtask.durations import parse_duration
from tests.asgi.servers import ROOT

DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "pgtask-worker.service"
VENV_PGTASK = "/opt/pgtask/venv/bin/pgtask"
CI = os.environ.get("CI", "").lower() == "true"


def _unit() -> dict[str, list[str]]:
    """key -> values of the unit's live lines (a unit file may repeat keys)."""
    keys: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            keys.setdefault(key, []).append(value)
    return keys


def _commented_exec() -> list[str]:
    return [line.removeprefix("#ExecStart=") for line in UNIT.read_text().splitlines()
            if line.startswith("#ExecStart=")]


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _dockerfile_json(instruction: str) -> list[str]:
    line, = [x for x in (DEPLOY / "Dockerfile").read_text().splitlines()
             if x.startswith(instruction + " ")]
    return json.loads(line.removeprefix(instruction + " "))


def _command_lines() -> list[list[str]]:
    """Every pgtask invocation in deploy/, as the arguments after `pgtask`."""
    lines = [shlex.split(x) for x in _unit()["ExecStart"] + _commented_exec()]
    assert all(line[0] == VENV_PGTASK for line in lines)
    args = [line[1:] for line in lines]
    assert _dockerfile_json("ENTRYPOINT") == ["pgtask"]
    args.append(_dockerfile_json("CMD"))
    services = _compose()["services"]
    args += [s["command"] for s in services.values() if s.get("image") == "pgtask"]
    return args


def _shutdown_timeout(args: list[str]) -> float:
    return parse_duration(args[args.index("--shutdown-timeout") + 1]).total_seconds()


def test_every_command_line_is_a_real_pgtask_command():
    lines = _command_lines()
    assert len(lines) == 6  # 2 in the unit, the image's default, migrate, worker, serve
    for args in lines:
        done = subprocess.run([sys.executable, "-m", "pgtask", *args, "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"pgtask {shlex.join(args)}: {done.stderr}"


def test_a_stale_flag_would_be_caught():
    done = subprocess.run([sys.executable, "-m", "pgtask", "worker", "--no-such-flag", "--help"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2


def test_the_unit_stops_gracefully_and_keeps_secrets_out():
    unit = _unit()
    assert unit["Type"] == ["exec"] and unit["Restart"] == ["on-failure"]
    assert unit["KillSignal"] == ["SIGTERM"]
    assert unit["KillMode"] == ["mixed"]  # the supervisor forwards SIGTERM exactly once
    stop = parse_duration(unit["TimeoutStopSec"][0]).total_seconds()
    for line in unit["ExecStart"] + _commented_exec():
        assert stop > _shutdown_timeout(shlex.split(line)) + 5  # + flush and deregistration
    assert unit["EnvironmentFile"] == ["/etc/pgtask/pgtask.env"]
    assert "Environment" not in unit
    assert unit["NoNewPrivileges"] == ["yes"] and unit["ProtectSystem"] == ["strict"]
    assert not re.search(r"://[^/\s]*:[^@\s]*@", "\n".join(sum(unit.values(), [])))


def test_systemd_analyze_verifies_the_unit(tmp_path: Path):
    if shutil.which("systemd-analyze") is None:
        if CI:
            pytest.fail("CI=true but systemd-analyze is missing (apt-get install systemd)")
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / UNIT.name  # verify checks that ExecStart's binary exists: use ours
    unit.write_text(UNIT.read_text().replace(VENV_PGTASK, str(Path(sys.executable).parent
                                                                / "pgtask")))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and str(unit) not in done.stderr, done.stderr


def test_compose_runs_migrate_once_before_worker_and_serve():
    services = _compose()["services"]
    assert set(services) == {"postgres", "migrate", "worker", "serve"}
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("worker", "serve"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}}
    for service in services.values():
        assert service["env_file"] == "pgtask.env"
        assert not any(re.search("PASSWORD|TOKEN|DSN", key)
                       for key in service.get("environment", {}))  # secrets: env_file only
    worker = services["worker"]
    grace = parse_duration(worker["stop_grace_period"]).total_seconds()
    assert grace > _shutdown_timeout(worker["command"]) + 5


def test_the_image_runs_as_a_user_and_its_context_holds_what_the_build_needs():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.M)
    user, = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert user not in ("root", "0")
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    kept = {x.removeprefix("!").rstrip("/") for x in ignore if x.startswith("!")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {"pyproject.toml", project["project"]["readme"], *project["project"]
              ["license-files"], *(p.split("/")[0] for p in wheel["packages"]),
              *wheel["force-include"]}
    assert needed <= kept, needed - kept


def test_the_env_example_names_what_pgtask_reads():
    text = (DEPLOY / "pgtask.env.example").read_text()
    keys = {line.partition("=")[0] for line in text.splitlines() if line and line[0] != "#"}
    assert keys == {"POSTGRES_PASSWORD", "PGTASK_DSN", "PGTASK_WEB_TOKENS"}
    assert "CHANGE-ME" in text
