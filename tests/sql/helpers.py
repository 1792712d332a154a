"""Thin wrappers over the SQL API for the tests in tests/sql: one call each, no logic.

Time never passes by sleeping: tests take the database's now() once and hand later
instants to the functions' `now` parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pgtask.resources import read_sql

SECOND = timedelta(seconds=1)


def db_now(conn: psycopg.Connection) -> datetime:
    return conn.execute("select now() as now").fetchone()["now"]


def enqueue(conn, task_type: str = "t", payload: dict | None = None, queue: str = "default",
            run_at: datetime | None = None, priority: int = 0, key: str | None = None,
            max_attempts: int | None = None, target_url: str | None = None) -> int:
    row = conn.execute(
        "select pgtask.enqueue_task(%s, %s, %s, %s, %s, %s, %s, %s) as id",
        (task_type, Jsonb(payload if payload is not None else {}), queue, run_at, priority,
         key, max_attempts, target_url),
    ).fetchone()
    return row["id"]


def enqueue_many(conn, task_types: Sequence[str], **arrays) -> list[int]:
    """enqueue_tasks with named arrays: payloads, queues, run_ats, priorities, ..."""
    payloads = arrays.get("payloads")
    rows = conn.execute(
        "select id from pgtask.enqueue_tasks(%s, %s::jsonb[], %s, %s::timestamptz[],"
        " %s::integer[], %s, %s::integer[], %s) as id",
        (list(task_types),
         None if payloads is None else [None if p is None else Jsonb(p) for p in payloads],
         arrays.get("queues"), arrays.get("run_ats"), arrays.get("priorities"),
         arrays.get("idempotency_keys"), arrays.get("max_attempts"), arrays.get("target_urls")),
    ).fetchall()
    return [r["id"] for r in rows]


def claim(conn, queues: Sequence[str] | None = None, worker: str = "w1", batch: int = 10,
          task_types: Sequence[str] | None = None, now: datetime | None = None) -> list[dict]:
    return conn.execute(
        "select * from pgtask.claim_task(%s, %s, %s, %s, %s)",
        (None if queues is None else list(queues), worker, batch,
         None if task_types is None else list(task_types), now),
    ).fetchall()


def complete(conn, task_id: int, token, result=None, now: datetime | None = None) -> bool:
    return conn.execute(
        "select pgtask.complete_task(%s, %s, %s, %s) as ok",
        (task_id, token, None if result is None else Jsonb(result), now),
    ).fetchone()["ok"]


def fail(conn, task_id: int, token, error: str = "boom", retry_after: timedelta | None = None,
         permanent: bool = False, now: datetime | None = None) -> bool:
    return conn.execute(
        "select pgtask.fail_task(%s, %s, %s, %s, %s, %s) as ok",
        (task_id, token, error, retry_after, permanent, now),
    ).fetchone()["ok"]


def finish(conn, ids, tokens, outcomes, delays=None, now: datetime | None = None) -> dict:
    """finish_tasks; returns {id: new state} for the tasks that were still held."""
    rows = conn.execute(
        "select * from pgtask.finish_tasks(%s, %s, %s, null, null, %s::interval[], %s)",
        (list(ids), list(tokens), list(outcomes), delays, now),
    ).fetchall()
    return {r["id"]: r["state"] for r in rows}


def heartbeat(conn, worker: str, ids=(), tokens=(), now: datetime | None = None) -> list[int]:
    """heartbeat; returns the ids the worker no longer holds."""
    rows = conn.execute("select * from pgtask.heartbeat(%s, %s::bigint[], %s::uuid[], %s)",
                        (worker, list(ids), list(tokens), now)).fetchall()
    return [r["heartbeat"] for r in rows]


def cancel(conn, task_id: int, reason: str | None = None) -> bool:
    row = conn.execute("select pgtask.cancel_task(%s, %s) as ok", (task_id, reason)).fetchone()
    return row["ok"]


def retry(conn, task_id: int) -> bool:
    return conn.execute("select pgtask.retry_task(%s) as ok", (task_id,)).fetchone()["ok"]


def rescue(conn, now: datetime | None = None) -> int:
    return conn.execute("select pgtask.rescue_tasks(%s) as n", (now,)).fetchone()["n"]


def task(conn, task_id: int) -> dict | None:
    """The task wherever it lives, with `home` saying which table holds it."""
    return conn.execute(
        "select a.*, case when exists (select 1 from pgtask.tasks t where t.id = a.id)"
        " then 'tasks' else 'history' end as home from pgtask.all_tasks a where a.id = %s",
        (task_id,),
    ).fetchone()


def hot_row(conn, task_id: int) -> dict | None:
    return conn.execute("select * from pgtask.tasks where id = %s", (task_id,)).fetchone()


def count(conn, table: str) -> int:
    query = sql.SQL("select count(*) as n from {}").format(sql.Identifier("pgtask", table))
    return conn.execute(query).fetchone()["n"]


def set_queue(conn, name: str, **policy) -> None:
    """Create the queue row if needed and set the given policy columns."""
    conn.execute("insert into pgtask.queues (name) values (%s) on conflict do nothing", (name,))
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
        for column in policy
    )
    query = sql.SQL("update pgtask.queues set {} where name = %(name)s").format(assignments)
    conn.execute(query, {**policy, "name": name})


def notifications_until_sentinel(listener: psycopg.Connection, sender: psycopg.Connection,
                                 channel: str = "pgtask", timeout: float = 10.0) -> list[str]:
    """Payloads `listener` received on `channel` before a sentinel sent now by `sender`.

    Notifications are delivered in commit order, so a sentinel committed after the
    statement under test bounds what that statement sent, with no waiting for silence.
    """
    sender.execute("select pg_notify(%s, '__sentinel__')", (channel,))
    payloads = []
    for note in listener.notifies(timeout=timeout):
        if note.channel != channel:
            continue
        if note.payload == "__sentinel__":
            return payloads
        payloads.append(note.payload)
    raise AssertionError(f"no sentinel on channel {channel!r} within {timeout}s")


# The roles script as released with schema 0004: what a database upgraded from 0004 or
# earlier was given (today's script grants functions those revisions do not have).
ROLES_0004 = Path(__file__).with_name("roles_0004.sql")


def install_roles(db, script: str | None = None) -> None:
    """Run the roles script (today's unless given); roles are cluster-wide, so they may exist
    already."""
    script = read_sql("postgres/roles.sql") if script is None else script
    db.execute(script)
    db.execute(script)  # idempotent
