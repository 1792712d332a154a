from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.asgi.servers import Server


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Every Server a test starts, killed at its end whatever happened."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def task_state(dsn: str) -> Callable[[int], str | None]:
    """task id -> its state (the hot table, else history), None if there is no such task."""

    def state(task_id: int) -> str | None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "select state::text from pgtask.tasks where id = %s union all "
                "select state::text from pgtask.task_history where id = %s",
                (task_id, task_id)).fetchone()
        return None if row is None else row[0]

    return state
