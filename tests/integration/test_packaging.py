"""The wheel carries sql/ and alembic/: `pgtask migrate` works from an installed wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    return next(out.glob("pgtask-*.whl"))


def test_wheel_contains_the_sql_and_the_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("pgtask/sql/postgres/pgtask.sql", "pgtask/sql/postgres/roles.sql",
                   "pgtask/sql/postgres/migrations/0001_initial.sql",
                   "pgtask/sql/postgres/migrations/0002_hot_path.sql", "pgtask/alembic/env.py",
                   "pgtask/alembic/versions/0001_initial.py",
                   "pgtask/alembic/versions/0002_hot_path.py",
                   "pgtask/sql/postgres/migrations/0003_worker_faults.sql",
                   "pgtask/alembic/versions/0003_worker_faults.py",
                   "pgtask/sql/postgres/migrations/0004_security.sql",
                   "pgtask/sql/mysql/migrations/0004_security.sql",
                   "pgtask/alembic/versions/0004_security.py",
                   "pgtask/sql/postgres/migrations/0005_features.sql",
                   "pgtask/sql/mysql/migrations/0005_features.sql",
                   "pgtask/alembic/versions/0005_features.py",
                   "pgtask/sql/postgres/migrations/0006_integrations.sql",
                   "pgtask/sql/mysql/migrations/0006_integrations.sql",
                   "pgtask/alembic/versions/0006_integrations.py"):
        assert needed in names


def test_migrate_from_the_installed_wheel_outside_the_checkout(wheel, empty_dsn, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    run = subprocess.run(
        [sys.executable, "-c", "import pgtask, sys; print(pgtask.__file__); "
         "from pgtask.cli import main; "
         "sys.argv = ['pgtask', 'migrate', '--dsn', sys.argv[1]]; main()",
         empty_dsn],
        cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith(str(site))  # the wheel's copy, not src/
    assert "migrated from nothing to" in run.stdout
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("select to_regproc('pgtask.claim_task')").fetchone()[0] is not None
