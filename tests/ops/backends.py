"""The two backends the operator CLI serves, as the ops tests see them.

An OpsBackend is one test's database on one backend: its DSN (created on first use, so a test
that only needs a DSN that fails costs nothing), tasks seeded in known states through the public
surface (pgtask.enqueue and the worker's Store), an Operator for the read model, and direct SQL
for what no public call does (backdating rows, reading a queue's columns). What is spelled
differently on each backend lives in the two subclasses; conftest.py's `backend` fixture hands
out one of each, `pg_ops` and `mysql_ops` one backend for the tests of what only it does.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar

import psycopg
import pymysql
from psycopg.rows import dict_row

import pgtask
from pgtask.models import Outcome
from pgtask.store import open_store
from pgtask.store.base import Operator, Store
from pgtask.store.mysql.store import connect as mysql_connect
from pgtask.store.operators import connect_operator

Rows = list[dict[str, Any]]
DURATIONS = ("min_backoff", "max_backoff", "lease", "dispatch_deadline")


class SyncStore:
    """The test's Store, its coroutines run to completion on a loop of its own."""

    def __init__(self, dsn: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.store: Store = self.run(open_store(dsn))

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.run(self.store.close())
        self.loop.close()


class OpsBackend:
    """One test's migrated database on one backend (see the module's docstring)."""

    name: ClassVar[str]
    scheme: ClassVar[str]  # of a URL DSN, as `cannot connect to ...` prints it back

    def __init__(self, fixture: Callable[[str], Any]) -> None:
        self._fixture = fixture  # request.getfixturevalue: databases made on demand
        self._opened: list[Any] = []

    # -- the databases --------------------------------------------------------------------

    @cached_property
    def dsn(self) -> str:
        return self._new_database()

    def _new_database(self) -> str:
        raise NotImplementedError

    def unmigrated_dsn(self) -> str:
        """A new database on this backend's server that nobody migrated."""
        raise NotImplementedError

    def unreachable_dsn(self, password: str) -> str:
        return f"{self.scheme}://someone:{password}@127.0.0.1:1/nowhere"

    # -- connections ----------------------------------------------------------------------

    @cached_property
    def conn(self) -> Any:
        """An autocommit connection to the database, rows as dicts."""
        conn = self._connect()
        self._opened.append(conn)
        return conn

    def _connect(self) -> Any:
        raise NotImplementedError

    @cached_property
    def operator(self) -> Operator:
        operator = connect_operator(self.dsn)
        self._opened.append(operator)
        return operator

    @cached_property
    def store(self) -> SyncStore:
        store = SyncStore(self.dsn)
        self._opened.append(store)
        return store

    def close(self) -> None:
        for opened in reversed(self._opened):
            opened.close()

    # -- SQL ------------------------------------------------------------------------------

    def rows(self, query: str, *params: Any) -> Rows:
        """Run `query`, its tables spelled as on Postgres (pgtask.tasks); the rows it returns."""
        raise NotImplementedError

    def queue_row(self, name: str) -> dict[str, Any]:
        """The queue's row, its durations in seconds on either backend."""
        row = dict(self.rows("select * from pgtask.queues where name = %s", name)[0])
        for column in DURATIONS:
            if isinstance(row[column], timedelta):
                row[column] = row[column].total_seconds()
        return row

    def states_by_id(self) -> dict[int, tuple[str, str]]:
        found = self.rows(self.STATES)
        return {r["id"]: (r["queue"], r["state"]) for r in found}

    STATES: ClassVar[str]
    AGE_HISTORY: ClassVar[str]  # finished_at of task %s moved %s seconds back
    EXPIRE_LEASE: ClassVar[str]  # the lease of task %s expired a second ago

    def age_history(self, task_id: int, seconds: float) -> None:
        self.rows(self.AGE_HISTORY, seconds, task_id)

    def expire_lease(self, task_id: int) -> None:
        self.rows(self.EXPIRE_LEASE, task_id)

    # -- tasks ----------------------------------------------------------------------------

    def enqueue(self, queue: str = "default", task_type: str = "t.x", priority: int = 0) -> int:
        return pgtask.enqueue(self.conn, task_type, {}, queue=queue, priority=priority)

    def make(self, state: str, queue: str = "default", task_type: str = "t.x") -> int:
        """A task in `state` (queued, running, succeeded, dead or cancelled) in `queue`."""
        # Top priority for those claimed below, so that the claim takes this task and no other.
        task_id = self.enqueue(queue, task_type, 0 if state in ("queued", "cancelled") else 1000)
        store = self.store
        if state == "cancelled":
            store.run(store.store.cancel(task_id))
        elif state != "queued":
            [held] = store.run(store.store.claim(None, "w1", 1, None))
            assert held.id == task_id, "the seeded task should be the only one claimable"
            if state != "running":
                outcome = Outcome(held.id, held.lease_token, state,
                                  error="boom" if state == "dead" else None)
                store.run(store.store.finish([outcome]))
        return task_id


class PostgresOps(OpsBackend):
    name = "postgres"
    scheme = "postgresql"
    STATES = "select id, queue, state::text as state from pgtask.all_tasks"
    AGE_HISTORY = ("update pgtask.task_history set finished_at = now() - make_interval(secs => %s) "
                   "where id = %s")
    EXPIRE_LEASE = ("update pgtask.tasks set lease_expires_at = now() - interval '1 second' "
                    "where id = %s")

    def _new_database(self) -> str:
        return str(self._fixture("new_database")())

    def unmigrated_dsn(self) -> str:
        return str(self._fixture("empty_dsn"))

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row)

    def rows(self, query: str, *params: Any) -> Rows:
        cur = self.conn.execute(query, params)
        return cur.fetchall() if cur.description else []


class MySQLOps(OpsBackend):
    name = "mysql"
    scheme = "mysql"
    STATES = "select id, queue, cast(state as char) as state from pgtask.all_tasks"
    AGE_HISTORY = ("update pgtask.task_history set finished_at = utc_timestamp(6) "
                   "- interval %s second where id = %s")
    EXPIRE_LEASE = ("update pgtask.tasks set lease_expires_at = utc_timestamp(6) "
                    "- interval 1 second where id = %s")
    TABLE = re.compile(r"\bpgtask\.")  # MySQL has no schemas: pgtask.tasks is pgtask_tasks

    def _new_database(self) -> str:
        return str(self._fixture("new_mysql_database")())

    def unmigrated_dsn(self) -> str:
        return str(self._fixture("new_mysql_database")(migrated=False))

    def _connect(self) -> pymysql.connections.Connection:
        return mysql_connect(self.dsn, autocommit=True, cursorclass=pymysql.cursors.DictCursor)

    def rows(self, query: str, *params: Any) -> Rows:
        with self.conn.cursor() as cur:
            cur.execute(self.TABLE.sub("pgtask_", query), params or None)
            return list(cur.fetchall())
