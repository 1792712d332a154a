"""`import pgtask` to enqueue pulls in no worker, no web stack and no database driver."""

import json
import subprocess
import sys

HEAVY = ("pgtask.worker", "pgtask.web", "pgtask.cli", "starlette", "httpx", "uvicorn",
         "prometheus_client", "psycopg", "psycopg_pool", "pymysql", "sqlalchemy", "alembic")


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_import_pgtask_loads_nothing_heavy():
    loaded = _loaded_after("import pgtask")
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []


def test_the_worker_names_still_load_on_first_use():
    loaded = _loaded_after("import pgtask; pgtask.Worker, pgtask.WorkerConfig, pgtask.TaskContext")
    assert "pgtask.worker.runner" in loaded
