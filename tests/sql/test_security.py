"""Privileges: the roles script, REVOKE FROM PUBLIC, and search_path hijacks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

from .helpers import cancel, claim, count, enqueue, enqueue_many, heartbeat, hot_row, retry

DENIED = psycopg.errors.InsufficientPrivilege


def refused(conn, statement: str, params=None) -> None:
    with pytest.raises(DENIED, match="permission denied"):
        conn.execute(statement, params)


def test_app_role_can_only_enqueue(as_role, db):
    app = as_role("pgtask_app")
    task_id = enqueue(app, "emails.send", {"to": "a@b.c"})
    assert len(enqueue_many(app, ["a", "b"])) == 2
    assert count(db, "tasks") == 3
    refused(app, "select * from pgtask.tasks")
    refused(app, "select * from pgtask.all_tasks")
    refused(app, "select * from pgtask.queues")
    refused(app, "update pgtask.tasks set priority = 5")
    refused(app, "delete from pgtask.tasks")
    refused(app, "insert into pgtask.queues (name) values ('x')")
    refused(app, "select * from pgtask.claim_task(null, 'w1', 1)")
    refused(app, "select pgtask.complete_task(%s, %s)", (task_id, uuid.uuid4()))
    refused(app, "select pgtask.fail_task(%s, %s, 'x')", (task_id, uuid.uuid4()))
    refused(app, "select * from pgtask.finish_tasks(array[%s]::bigint[], array[%s]::uuid[],"
                 " array['succeeded'])", (task_id, uuid.uuid4()))
    refused(app, "select pgtask.cancel_task(%s)", (task_id,))
    refused(app, "select pgtask.prune()")
    assert hot_row(db, task_id)["state"] == "queued"


def test_worker_role_claims_and_finishes_but_writes_nothing_directly(as_role, db):
    worker = as_role("pgtask_worker")
    task_id = enqueue(worker)
    worker.execute("select pgtask.register_worker('w1', 'h', 1, null, null, 4)")
    [row] = claim(worker, worker="w1")
    assert heartbeat(worker, "w1", [task_id], [row["lease_token"]]) == []
    assert worker.execute("select pgtask.complete_task(%s, %s) as ok",
                          (task_id, row["lease_token"])).fetchone()["ok"]
    assert worker.execute("select count(*) as n from pgtask.queues").fetchone()["n"] == 1
    refused(worker, "update pgtask.tasks set priority = 5")
    refused(worker, "delete from pgtask.task_history")
    refused(worker, "select pgtask.retry_task(%s)", (task_id,))
    refused(worker, "select pgtask.cancel_task(%s)", (task_id,))
    assert db.execute("select state from pgtask.task_history").fetchone()["state"] == "succeeded"


def test_owner_role_may_operate(as_role, db):
    owner = as_role("pgtask_owner")
    task_id = enqueue(owner)
    assert cancel(owner, task_id)
    assert retry(owner, task_id)
    owner.execute("update pgtask.queues set paused = true")


def test_without_a_grant_nothing_is_callable(dsn):
    """REVOKE FROM PUBLIC: a role the roles script never heard of can do nothing."""
    nobody = "pgtask_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(dsn) as conn:  # one transaction, rolled back: the role never exists
        conn.execute(psycopg.sql.SQL("create role {}").format(psycopg.sql.Identifier(nobody)))
        conn.execute(psycopg.sql.SQL("set local role {}").format(psycopg.sql.Identifier(nobody)))
        for statement in ["select pgtask.enqueue_task('t')", "select * from pgtask.tasks",
                          "select pgtask.is_valid_name('x')"]:
            with pytest.raises(DENIED), conn.transaction():
                conn.execute(statement)
        conn.rollback()


@pytest.fixture
def hijacked(dsn) -> Iterator[psycopg.Connection]:
    """A session whose search_path puts look-alike functions and tables first."""
    evil = "evil_" + uuid.uuid4().hex[:8]
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        ident = psycopg.sql.Identifier(evil)
        conn.execute(psycopg.sql.SQL("create schema {}").format(ident))
        for schema in ("pg_temp", evil):
            s = psycopg.sql.Identifier(schema)
            conn.execute(psycopg.sql.SQL(
                "create function {s}.now() returns timestamptz language sql"
                " as $$ select timestamptz '2000-01-01' $$;"
                "create function {s}.jsonb_typeof(jsonb) returns text language sql"
                " as $$ select 'object'::text $$;"
                "create function {s}.octet_length(text) returns integer language sql"
                " as $$ select 0 $$;"
                "create function {s}.nextval(regclass) returns bigint language sql"
                " as $$ select 1::bigint $$;"
                "create table {s}.tasks (like pgtask.tasks);"
                "create table {s}.queues (like pgtask.queues);"
                "create table {s}.idempotency_keys (like pgtask.idempotency_keys)").format(s=s))
        conn.execute(psycopg.sql.SQL("set search_path = pg_temp, {}, pg_catalog").format(ident))
        conn.evil = evil
        yield conn


def test_search_path_hijack_does_not_redirect_enqueue(hijacked, db):
    conn = hijacked
    real_now = db.execute("select now() as now").fetchone()["now"]
    task_id = enqueue(conn, "t", {"n": 1}, key="k")
    ids = enqueue_many(conn, ["t", "t"])
    row = hot_row(db, task_id)
    assert row is not None and row["run_at"] >= real_now  # not the fake now() in 2000
    assert count(db, "tasks") == 3 and len(set(ids)) == 2 and task_id not in ids
    # The look-alike checks would let these through; the real ones still refuse them.
    with pytest.raises(psycopg.errors.CheckViolation, match="must be a JSON object"):
        conn.execute("select pgtask.enqueue_task('t', '[1]')")
    with pytest.raises(psycopg.errors.CheckViolation, match="payload is"):
        enqueue(conn, payload={"x": "y" * (1024 * 1024)})
    for schema in ("pg_temp", conn.evil):
        for table in ("tasks", "queues", "idempotency_keys"):
            query = psycopg.sql.SQL("select count(*) as n from {}").format(
                psycopg.sql.Identifier(schema, table))
            assert conn.execute(query).fetchone()["n"] == 0


def test_search_path_hijack_does_not_redirect_claim(hijacked, db):
    task_id = enqueue(db)
    [row] = claim(hijacked)
    assert row["id"] == task_id and row["attempted_at"].year > 2000
    assert hot_row(db, task_id)["state"] == "running"
