"""The test-time `now` parameters: only the schema's owner (and pgtask_owner) may pass one.

A worker that could would take every live lease (rescue_tasks('infinity')) or wipe history
(prune(now => 'infinity')); an application could enqueue a group at the end of time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .helpers import claim, count, enqueue, install_roles

DENIED = psycopg.errors.InsufficientPrivilege
WORKER_CALLS = (
    "select pgtask.rescue_tasks('infinity')",
    "select pgtask.prune('0 seconds', now => 'infinity')",
    "select * from pgtask.claim_task(null, 'w1', 10, null, 'infinity')",
    "select * from pgtask.heartbeat('w1', '{}', '{}', 'infinity')",
    "select pgtask.register_worker('w1', 'h', 1, null, null, 1, 'infinity')",
    "select * from pgtask.finish_tasks('{}', '{}', '{}', now => 'infinity')",
    "select * from pgtask.dispatch_policies(null, 'infinity')",
)


@pytest.fixture
def login_as(db, dsn) -> Iterator:
    """Factory: a connection that logs in as a new role granted `role` (no SET ROLE)."""
    install_roles(db)
    made: list[tuple[str, psycopg.Connection]] = []

    def connect(role: str) -> psycopg.Connection:
        name = "pgtask_t_" + uuid.uuid4().hex[:12]
        db.execute(sql.SQL("create role {} login in role {}").format(
            sql.Identifier(name), sql.Identifier(role)))
        conn = psycopg.connect(dsn + f" user={name}", autocommit=True, row_factory=dict_row)
        made.append((name, conn))
        return conn

    yield connect
    for name, conn in made:
        conn.close()
        db.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


@pytest.mark.parametrize("call", WORKER_CALLS)
def test_the_worker_role_may_not_pass_now(as_role, db, call):
    enqueue(db)  # rows to act on: a queue, a task, a worker
    db.execute("select pgtask.register_worker('w0', 'h', 1, null, null, 1)")
    with pytest.raises(DENIED, match='only the owner of schema pgtask may pass "now"'):
        as_role("pgtask_worker").execute(call)


def test_a_login_role_granted_the_worker_role_may_not_either(login_as, db):
    enqueue(db)
    claim(db)  # a live lease the call below would take
    worker = login_as("pgtask_worker")
    with pytest.raises(DENIED, match="pgtask_t_"):
        worker.execute("select pgtask.rescue_tasks('infinity')")
    assert worker.execute("select pgtask.rescue_tasks() as n").fetchone()["n"] == 0
    assert count(db, "tasks") == 1


def test_the_app_role_may_not_backdate_a_group(as_role):
    app = as_role("pgtask_app")
    member = Jsonb([{"task_type": "a"}])
    then = Jsonb({"task_type": "b"})
    with pytest.raises(DENIED):
        app.execute("select pgtask.enqueue_group(%s, %s, 'infinity')", (member, then))
    app.execute("select pgtask.enqueue_group(%s, %s)", (member, then))


def test_owners_may(as_role, db):
    assert as_role("pgtask_owner").execute(
        "select pgtask.rescue_tasks(now() + interval '1 hour') as n").fetchone()["n"] == 0
    assert db.execute("select pgtask.rescue_tasks(now() + interval '1 hour') as n"
                      ).fetchone()["n"] == 0  # the superuser that migrated
