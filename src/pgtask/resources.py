"""Find the files that ship beside the code: sql/ and alembic/.

In a wheel they sit inside the package (pgtask/sql, pgtask/alembic); in a source checkout
(editable install, tests) they sit at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The directory `name` ("sql" or "alembic"), wherever this install keeps it."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"pgtask: cannot find its {name}/ directory near {_PACKAGE}")


def read_sql(relative: str) -> str:
    """The text of a file under sql/, e.g. read_sql("postgres/pgtask.sql")."""
    return (resource_dir("sql") / relative).read_text(encoding="utf-8")
