"""The operator queries of Postgres (store.operators): inspect.py, top.py, admin.py and the rest."""

from __future__ import annotations

from pgtask.models import Backend
from pgtask.store.base import CAPABILITIES
from pgtask.store.operators import ConnectionOperator, OperatorQueries
from pgtask.store.postgres import admin, inspect, task_edits, task_types, top
from pgtask.store.postgres.errors import translated
from pgtask.store.postgres.schema import connect_checked

QUERIES = OperatorQueries(
    backend=Backend.POSTGRES, capabilities=CAPABILITIES[Backend.POSTGRES], translated=translated,
    list_tasks=inspect.list_tasks, task_detail=inspect.task_detail,
    task_counts=inspect.task_counts, top_rows=top.top_rows, queues=admin.queues,
    select_ids=admin.select_ids, retry_tasks=admin.retry_tasks,
    cancel_tasks=admin.cancel_tasks, configure_queue=admin.configure_queue,
    set_paused=admin.set_paused, running_in_queue=admin.running_in_queue,
    count_prunable=admin.count_prunable, prune=admin.prune,
    rescue=admin.rescue, task_types=task_types.task_types,
    delete_task=task_edits.delete_task, update_task=task_edits.update_task,
    task_states=task_edits.task_states, errored_tasks=task_edits.errored_tasks)


def connect_operator(dsn: str) -> ConnectionOperator:
    return ConnectionOperator(connect_checked(dsn), QUERIES)
