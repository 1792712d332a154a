"""One store contract, two backends: every test here runs on Postgres and on MySQL/MariaDB.

`store` is an open Store (through open_store, as the runtime gets it) on a fresh database,
driven synchronously from the test. `db` reaches under the store for what the Store API
does not expose: reading rows, setting queue policy, and moving the clock by backdating
rows (MySQL has no `now` argument to pass).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from pgtask.store import open_store
from pgtask.store.mysql.store import connect as mysql_connect
from tests.mysql.fixtures import mysql_server, new_mysql_database  # noqa: F401 (fixtures)

BACKENDS = ["postgres", pytest.param("mysql", marks=pytest.mark.mysql)]


class SyncStore:
    """A Store whose coroutine methods run to completion on the test's event loop."""

    def __init__(self, store, loop: asyncio.AbstractEventLoop) -> None:
        self.store, self.loop = store, loop

    def __getattr__(self, name: str):
        method = getattr(self.store, name)
        return lambda *args, **kw: self.loop.run_until_complete(method(*args, **kw))

    def gather(self, *coroutines):
        async def together():
            return await asyncio.gather(*coroutines)
        return self.loop.run_until_complete(together())


class Db:
    """Direct SQL on the test's database, phrased once for each backend."""

    def __init__(self, backend: str, dsn: str) -> None:
        self.backend, self.dsn = backend, dsn
        if backend == "postgres":
            self.conn = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)
        else:
            self.conn = mysql_connect(dsn, autocommit=True, cursorclass=pymysql.cursors.DictCursor)
        self.prefix = "pgtask." if backend == "postgres" else "pgtask_"

    def close(self) -> None:
        self.conn.close()

    def rows(self, query: str, *params: Any) -> list[dict]:
        """`query` names tables as {tasks}, {history}, ...; they get the backend's prefix."""
        names = {t: self.prefix + t for t in ("tasks", "task_history", "queues", "all_tasks",
                                              "workers", "task_logs", "idempotency_keys")}
        text = query.format(**names)
        if self.backend == "postgres":
            cur = self.conn.execute(text, params)
            return cur.fetchall() if cur.description else []
        with self.conn.cursor() as cur:
            cur.execute(text, params)
            return list(cur.fetchall())

    def task(self, task_id: int) -> dict | None:
        found = self.rows("select * from {all_tasks} where id = %s", task_id)
        if not found:
            return None
        row = dict(found[0])
        for key in ("payload", "errors", "result"):  # MySQL hands JSON back as text
            if isinstance(row.get(key), str):
                row[key] = json.loads(row[key])
        for key, value in row.items():
            if isinstance(value, datetime) and value.tzinfo is None:
                row[key] = value.replace(tzinfo=UTC)
        return row

    def set_queue(self, name: str, **policy: Any) -> None:
        """Create or change a queue; durations as timedelta (seconds on MySQL)."""
        cols = ["name", *policy]
        if self.backend == "postgres":
            self.conn.execute(sql.SQL(
                "insert into pgtask.queues ({cols}) values ({vals}) "
                "on conflict (name) do update set {sets}").format(
                    cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
                    vals=sql.SQL(", ").join(sql.Placeholder() * len(cols)),
                    sets=sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c))
                                            for c in policy)),
                [name, *policy.values()])
            return
        values = [v.total_seconds() if isinstance(v, timedelta)
                  else v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime)
                  else v for v in policy.values()]
        placeholders = ", ".join(["%s"] * len(cols))
        text = (f"insert into pgtask_queues ({', '.join(cols)}) values ({placeholders}) "
                f"on duplicate key update {', '.join(f'{c} = values({c})' for c in policy)}")
        with self.conn.cursor() as cur:
            cur.execute(text, [name, *values])

    def shift(self, task_id: int, column: str, seconds: float) -> None:
        """Move one timestamp of a task by `seconds` (negative: into the past)."""
        assert column in ("run_at", "lease_expires_at")
        if self.backend == "postgres":
            query = sql.SQL("update pgtask.tasks set {c} = {c} + make_interval(secs => %s) "
                            "where id = %s").format(c=sql.Identifier(column))
            self.conn.execute(query, (seconds, task_id))
        else:
            self.rows(f"update {{tasks}} set {column} = {column} + interval %s microsecond "
                      "where id = %s", int(seconds * 1e6), task_id)

    def make_runnable(self, task_id: int) -> None:
        self.rows("update {tasks} set run_at = created_at where id = %s", task_id)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def fresh_dsn(backend: str, request) -> Iterator:
    """Factory: DSN of a new migrated database of this test's backend."""
    fixture = "new_database" if backend == "postgres" else "new_mysql_database"
    return request.getfixturevalue(fixture)


@pytest.fixture
def dsn_for(fresh_dsn) -> str:
    return fresh_dsn()


@pytest.fixture
def open_sync_store(dsn_for: str) -> Iterator:
    """Factory: another open store on this test's database (a second worker)."""
    loop = asyncio.new_event_loop()
    opened: list = []

    def make(max_size: int = 4) -> SyncStore:
        store = loop.run_until_complete(open_store(dsn_for, max_size=max_size))
        opened.append(store)
        return SyncStore(store, loop)

    yield make
    for store in opened:
        loop.run_until_complete(store.close())
    loop.close()


@pytest.fixture
def store(open_sync_store) -> SyncStore:
    return open_sync_store()


@pytest.fixture
def db(backend: str, dsn_for: str) -> Iterator[Db]:
    helper = Db(backend, dsn_for)
    yield helper
    helper.close()


@pytest.fixture
def ops(store: SyncStore) -> SyncStore:
    """cancel / retry / prune: Store methods on both backends."""
    return store
