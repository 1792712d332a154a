"""The faces' way in (store.base.Operator): one connection, one backend's queries.

Both backends share this class; what differs is a table of query functions (each one
backend's inspect/admin/snapshot function, connection first) and how driver errors read.
`open_operator(dsn)` connects, checks the schema revision, and picks the backend by scheme.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pgtask.config import backend_of, resolve_dsn
from pgtask.models import Backend
from pgtask.store.base import Capability, Operator, Row
from pgtask.store.pruning import DEFAULT_BATCH_SIZE

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OperatorQueries:
    """One backend's operator queries; each takes the connection first."""

    backend: Backend
    capabilities: frozenset[Capability]
    translated: Callable[[], AbstractContextManager[None]]
    list_tasks: Callable[..., list[Row]]
    task_detail: Callable[..., Row | None]
    task_counts: Callable[[Any], list[Row]]
    top_rows: Callable[..., dict[str, list[Row]]]
    queues: Callable[[Any], list[Row]]
    select_ids: Callable[..., list[int]]
    retry_tasks: Callable[[Any, Sequence[int]], list[int]]
    cancel_tasks: Callable[[Any, Sequence[int], str], list[int]]
    delete_task: Callable[[Any, int], bool]
    update_task: Callable[[Any, int, Mapping[str, Any]], Row | None]
    task_states: Callable[[Any, Sequence[int]], dict[int, str]]
    errored_tasks: Callable[..., list[Row]]
    configure_queue: Callable[[Any, str, dict[str, Any]], Row]
    set_paused: Callable[[Any, str, bool], bool]
    running_in_queue: Callable[[Any, str], int]
    count_prunable: Callable[[Any, timedelta], int]
    prune: Callable[[Any, timedelta, int, float | None], int]
    rescue: Callable[[Any], int]
    task_types: Callable[[Any], list[Row]]


class ConnectionOperator:
    """store.base.Operator on one open connection (closed by close())."""

    def __init__(self, conn: Any, queries: OperatorQueries) -> None:
        self.conn = conn
        self._q = queries
        self.backend = queries.backend
        self.capabilities = queries.capabilities

    def _run(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._q.translated():
            return query(self.conn, *args, **kwargs)

    def close(self) -> None:
        self.conn.close()

    def list_tasks(self, *, state: str | None = None, queue: str | None = None,
                   task_type: str | None = None, after: int = 0, limit: int = 50,
                   before: int | None = None) -> list[Row]:
        return self._run(self._q.list_tasks, state=state, queue=queue, task_type=task_type,
                         after=after, limit=limit, before=before)

    def errored_tasks(self, *, queue: str | None = None, before: int | None = None,
                      limit: int = 100) -> list[Row]:
        return self._run(self._q.errored_tasks, queue=queue, before=before, limit=limit)

    def task_states(self, ids: Sequence[int]) -> dict[int, str]:
        return self._run(self._q.task_states, ids)

    def task_detail(self, task_id: int, log_limit: int = 1000) -> Row | None:
        return self._run(self._q.task_detail, task_id, log_limit)

    def task_counts(self) -> list[Row]:
        return self._run(self._q.task_counts)

    def top_rows(self, *, since: datetime | None = None,
                 now: datetime | None = None) -> dict[str, list[Row]]:
        return self._run(self._q.top_rows, since=since, now=now)

    def queues(self) -> list[Row]:
        return self._run(self._q.queues)

    def select_ids(self, *, finished: bool, state: str | None = None, queue: str | None = None,
                   task_type: str | None = None) -> list[int]:
        return self._run(self._q.select_ids, finished=finished, state=state, queue=queue,
                         task_type=task_type)

    def retry_tasks(self, ids: Sequence[int]) -> list[int]:
        return self._run(self._q.retry_tasks, ids)

    def cancel_tasks(self, ids: Sequence[int], reason: str) -> list[int]:
        return self._run(self._q.cancel_tasks, ids, reason)

    def delete_task(self, task_id: int) -> bool:
        return self._run(self._q.delete_task, task_id)

    def update_task(self, task_id: int, changes: Mapping[str, Any]) -> Row | None:
        return self._run(self._q.update_task, task_id, changes)

    def configure_queue(self, name: str, settings: Mapping[str, Any]) -> Row:
        return self._run(self._q.configure_queue, name, dict(settings))

    def set_paused(self, name: str, paused: bool) -> bool:
        return self._run(self._q.set_paused, name, paused)

    def running_in_queue(self, name: str) -> int:
        return self._run(self._q.running_in_queue, name)

    def count_prunable(self, older_than: timedelta) -> int:
        return self._run(self._q.count_prunable, older_than)

    def prune(self, older_than: timedelta, batch_size: int = DEFAULT_BATCH_SIZE,
              budget: float | None = None) -> int:
        return self._run(self._q.prune, older_than, batch_size, budget)

    def rescue(self) -> int:
        return self._run(self._q.rescue)

    def task_types(self) -> list[Row]:
        return self._run(self._q.task_types)


def connect_operator(dsn: str) -> Operator:
    """An Operator on a new, schema-checked connection to `dsn` (SchemaError, ConfigError)."""
    if backend_of(dsn) == Backend.MYSQL:
        from pgtask.store.mysql.operator import connect_operator as connect_mysql

        return connect_mysql(dsn)  # PyMySQL is optional: imported only for a mysql:// DSN
    from pgtask.store.postgres.operator import connect_operator as connect_postgres

    return connect_postgres(dsn)


@contextmanager
def open_operator(dsn: str | None = None) -> Iterator[Operator]:
    """connect_operator() for one command: $PGTASK_DSN when dsn is None; closed after."""
    operator = connect_operator(resolve_dsn(dsn))
    try:
        yield operator
    finally:
        operator.close()
