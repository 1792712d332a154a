"""Imports point down only (docs/architecture.md): faces -> worker/ops/client -> store ->
the pure modules. A module-level or deferred import that points up fails here."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pgtask"
FACES = ("pgtask.cli", "pgtask.console", "pgtask.web", "pgtask.contrib")
# What each room must not import (prefixes of module names).
FORBIDDEN = {
    "pgtask.store": (*FACES, "pgtask.worker", "pgtask.ops", "pgtask.client", "pgtask.follow",
                     "pgtask.demo", "pgtask.schedules", "pgtask.registry", "pgtask.chains"),
    "pgtask.worker": FACES,
    "pgtask.ops": (*FACES, "pgtask.worker"),
    "pgtask.client": (*FACES, "pgtask.worker", "pgtask.ops"),
    "pgtask.models": ("pgtask.store", "pgtask.worker", "pgtask.ops", *FACES),
    "pgtask.errors": ("pgtask.store", "pgtask.worker", "pgtask.ops", *FACES),
    "pgtask.endpoints": ("pgtask.store", "pgtask.worker", "pgtask.ops", *FACES),
    "pgtask.redact": ("pgtask.store", "pgtask.worker", "pgtask.ops", *FACES),
    "pgtask.undecodable": ("pgtask.store", "pgtask.worker", "pgtask.ops", *FACES),
    "pgtask.queue_settings": ("pgtask.store", "pgtask.worker", "pgtask.ops", *FACES),
    "pgtask.schedules": ("pgtask.store", "pgtask.worker", "pgtask.ops", *FACES),
    # Beside the runtime, below it: the worker and the client import these, not the reverse.
    "pgtask.logs": ("pgtask.store", "pgtask.worker", "pgtask.ops", "pgtask.client", *FACES),
    "pgtask.telemetry": ("pgtask.store", "pgtask.worker", "pgtask.ops", "pgtask.client",
                         *FACES),
}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: str(v))
def test_imports_point_down(module, path):
    rules = [bad for room, bad in FORBIDDEN.items() if _within(module, room)]
    upward = sorted(name for name in _imports(path) for bad in rules for prefix in bad
                    if _within(name, prefix))
    assert upward == [], f"{module} imports upward: {upward}"


def test_only_the_store_imports_a_driver():
    drivers = ("psycopg", "psycopg_pool", "pymysql")
    leaks = sorted(f"{module}: {name}" for module, path in _modules()
                   if not _within(module, "pgtask.store")
                   for name in _imports(path) if any(_within(name, d) for d in drivers))
    assert leaks == []
