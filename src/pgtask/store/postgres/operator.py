"""The operator queries of Postgres (store.operators): inspect.py and admin.py's functions."""

from __future__ import annotations

from pgtask.models import Backend
from pgtask.store.base import CAPABILITIES
from pgtask.store.operators import ConnectionOperator, OperatorQueries
from pgtask.store.postgres import admin, inspect
from pgtask.store.postgres.errors import translated
from pgtask.store.postgres.schema import connect_checked

QUERIES = OperatorQueries(
    backend=Backend.POSTGRES, capabilities=CAPABILITIES[Backend.POSTGRES], translated=translated,
    list_tasks=inspect.list_tasks, task_detail=inspect.task_detail,
    task_counts=inspect.task_counts, top_rows=inspect.top_rows, queues=admin.queues,
    select_ids=admin.select_ids, retry_tasks=admin.retry_tasks,
    cancel_tasks=admin.cancel_tasks, configure_queue=admin.configure_queue,
    set_paused=admin.set_paused, count_prunable=admin.count_prunable, prune=admin.prune,
    rescue=admin.rescue)


def connect_operator(dsn: str) -> ConnectionOperator:
    return ConnectionOperator(connect_checked(dsn), QUERIES)
