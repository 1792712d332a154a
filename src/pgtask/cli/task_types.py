"""`pgtask tasks`: the task types workers registered in the database, or a module's own."""

from __future__ import annotations

from pgtask.cli.common import cell, console, when
from pgtask.registry import Registry
from pgtask.store.base import Row
from pgtask.store.operators import open_operator


def attempts(value: int | None) -> str:
    return str(value) if value else "queue default"


def timeout(seconds: float | None) -> str:
    return f"{seconds:g}s" if seconds else "-"


def served_by(row: Row) -> str:
    """The live workers that run the type, or why none does."""
    workers = list(row.get("workers") or [])
    if not workers:
        return "no live worker"
    shown = ", ".join(workers[:3])
    return shown + (f" +{len(workers) - 3}" if len(workers) > 3 else "")


def print_database_types(dsn: str | None) -> None:
    from rich.table import Table

    with open_operator(dsn) as operator:
        rows = operator.task_types()
    if not rows:
        console().print("no task types registered yet: a worker records its handlers' "
                        "types when it starts (pgtask worker --handlers MODULE)")
        return
    table = Table("type", "title", "queue", "priority", "max attempts", "timeout", "workers",
                  "last seen", box=None, header_style="bold", pad_edge=False)
    for row in rows:
        table.add_row(cell(row["name"]), cell(row["title"]), cell(row["queue"]),
                      str(row["priority"]), attempts(row["max_attempts"]),
                      timeout(row["timeout"]), cell(served_by(row)), when(row["last_seen_at"]))
    console().print(table)


def print_module_types(registry: Registry) -> None:
    from rich.table import Table

    table = Table("type", "title", "queue", "max attempts", "timeout", "description")
    for name in registry.names():
        d = registry.tasks[name]
        table.add_row(cell(d.name), cell(d.title), cell(d.queue), attempts(d.max_attempts),
                      timeout(d.timeout), cell(d.description))
    console().print(table)
