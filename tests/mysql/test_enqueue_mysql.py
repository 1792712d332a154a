"""Enqueueing on MySQL from outside the store: the caller's PyMySQL transaction, SQLAlchemy,
the stored procedure and the plain INSERT shape documented in docs/mysql.md."""

from __future__ import annotations

import asyncio
import threading

import pymysql
import pytest
import sqlalchemy

from pgtask.errors import DatabaseUnavailable
from pgtask.models import EnqueueRequest
from pgtask.store import open_store
from pgtask.store.mysql.store import connect, enqueue_on

pytestmark = pytest.mark.mysql


def count_tasks(dsn: str) -> int:
    with connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM pgtask_tasks")
        return cur.fetchone()[0]


def claim_all(dsn: str) -> list:
    async def claim():
        store = await open_store(dsn)
        try:
            return await store.claim(None, "w1", 100, None)
        finally:
            await store.close()
    return asyncio.run(claim())


def test_enqueue_on_the_callers_transaction_commits_and_rolls_back_with_it(mysql_dsn):
    conn = connect(mysql_dsn)  # PyMySQL's default: autocommit off
    ids = enqueue_on(conn, [EnqueueRequest("emails.send", {"to": "a@b.c"})])
    assert count_tasks(mysql_dsn) == 0  # not visible before the commit
    conn.rollback()
    assert count_tasks(mysql_dsn) == 0
    ids = enqueue_on(conn, [EnqueueRequest("emails.send", {"to": "a@b.c"})])
    conn.commit()
    assert [t.id for t in claim_all(mysql_dsn)] == ids
    conn.close()


def test_enqueue_on_an_autocommit_connection_is_atomic_per_call(mysql_dsn):
    conn = connect(mysql_dsn, autocommit=True)
    [task_id] = enqueue_on(conn, [EnqueueRequest("x", idempotency_key="k")])
    assert enqueue_on(conn, [EnqueueRequest("x", idempotency_key="k")]) == [task_id]
    assert conn.get_autocommit()
    conn.close()


def test_enqueue_from_a_sqlalchemy_session(mysql_dsn):
    engine = sqlalchemy.create_engine("mysql+pymysql://", creator=lambda: connect(mysql_dsn))
    with engine.begin() as sa_conn:
        sa_conn.exec_driver_sql("CREATE TABLE signups (email VARCHAR(100))")
    with engine.begin() as sa_conn:
        sa_conn.exec_driver_sql("INSERT INTO signups VALUES ('a@b.c')")
        [task_id] = enqueue_on(sa_conn.connection.driver_connection,
                               [EnqueueRequest("emails.welcome", {"email": "a@b.c"})])
    assert [t.id for t in claim_all(mysql_dsn)] == [task_id]
    with pytest.raises(RuntimeError), engine.begin() as sa_conn:
        enqueue_on(sa_conn.connection.driver_connection, [EnqueueRequest("emails.welcome")])
        raise RuntimeError("the application's transaction fails")
    assert count_tasks(mysql_dsn) == 1
    engine.dispose()


def test_idempotency_race_on_20_caller_connections_in_repeatable_read(mysql_dsn):
    """Each caller holds an old snapshot (REPEATABLE READ, read before enqueueing): the
    locking read must still find the winner's key."""
    start = threading.Barrier(20)
    ids: list[int] = []

    def caller() -> None:
        conn = connect(mysql_dsn)
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM pgtask_idempotency_keys")  # take the snapshot
        start.wait()
        ids.extend(enqueue_on(conn, [EnqueueRequest("jobs.run", idempotency_key="race")]))
        conn.commit()
        conn.close()

    threads = [threading.Thread(target=caller) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(ids) == 20 and len(set(ids)) == 1
    assert count_tasks(mysql_dsn) == 1


def test_the_stored_procedure_enqueues_with_idempotency_and_validation(mydb, mysql_dsn):
    with mydb.cursor() as cur:
        cur.execute("CALL pgtask_enqueue_task('emails.send', '{\"to\": \"a@b.c\"}', 'mail', "
                    "NULL, 5, 'signup-42', 3, NULL, @id)")
        cur.execute("SELECT @id AS id")
        first = cur.fetchone()["id"]
        cur.execute("CALL pgtask_enqueue_task('emails.send', NULL, 'mail', NULL, NULL, "
                    "'signup-42', NULL, NULL, @id)")
        cur.execute("SELECT @id AS id")
        assert cur.fetchone()["id"] == first
        for args, message in [
            ("'Bad', NULL, NULL", "invalid task type 'Bad'"),
            ("'ok', '[1]', NULL", "payload must be a JSON object, got array"),
            ("'ok', '{', NULL", "payload must be a JSON object"),
            ("'ok', NULL, 'Bad Queue'", "invalid queue name 'Bad Queue'"),
            ("'ok', NULL, NULL, '1969-12-31 23:59:59'", "run_at 1969-12-31 23:59:59.000000 is out"),
            ("'ok', NULL, NULL, '2200-01-01'", "is out of range \\(1970-01-01 to 100 years"),
        ]:
            with pytest.raises(pymysql.err.OperationalError, match=message):
                rest = ", NULL" * (8 - args.count(",") - 1)  # NULL for the arguments not given
                cur.execute(f"CALL pgtask_enqueue_task({args}{rest}, @id)")
    [task] = claim_all(mysql_dsn)
    assert (task.id, task.queue, task.payload, task.max_attempts) == (
        first, "mail", {"to": "a@b.c"}, 3)


def test_the_documented_plain_insert_shape(mydb, mysql_dsn):
    with mydb.cursor() as cur:
        cur.execute("INSERT IGNORE INTO pgtask_queues (name) VALUES ('emails')")
        cur.execute("INSERT INTO pgtask_tasks (queue, task_type, payload) "
                    "VALUES ('emails', 'emails.send', '{\"to\": \"a@b.c\"}')")
        cur.execute("SELECT LAST_INSERT_ID() AS id")
        task_id = cur.fetchone()["id"]
    [task] = claim_all(mysql_dsn)
    assert (task.id, task.task_type, task.payload) == (task_id, "emails.send", {"to": "a@b.c"})


def test_a_big_batch_gets_consecutive_ids_in_order(mysql_dsn):
    conn = connect(mysql_dsn)
    requests = [EnqueueRequest("bulk.load", {"n": n, "pad": "x" * 5000}) for n in range(2500)]
    ids = enqueue_on(conn, requests)  # several INSERT statements (row and byte caps)
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("SELECT id, JSON_EXTRACT(payload, '$.n') FROM pgtask_tasks ORDER BY id")
        assert [(i, int(n)) for i, n in cur.fetchall()] == list(zip(ids, range(2500), strict=True))
    conn.close()


def test_a_killed_connection_is_a_connection_error_and_the_next_call_reconnects(mysql_dsn, mydb):
    async def scenario():
        store = await open_store(mysql_dsn, max_size=1)
        try:
            await store.enqueue_many([EnqueueRequest("x")])
            with mydb.cursor() as cur:  # kill the store's one connection
                cur.execute("SELECT id FROM information_schema.processlist "
                            "WHERE db = DATABASE() AND id <> CONNECTION_ID()")
                for row in cur.fetchall():
                    cur.execute("KILL %s", (row["id"],))
            with pytest.raises(DatabaseUnavailable, match="MySQL connection to .* lost"):
                await store.claim(None, "w1", 1, None)
            assert len(await store.claim(None, "w1", 1, None)) == 1
        finally:
            await store.close()
    asyncio.run(scenario())


@pytest.mark.parametrize("url, reason", [
    ("mysql://root:hunter2@127.0.0.1:1/x", "Can't connect"),
    ("mysql://nobody:hunter2@127.0.0.1:3306/x", "Access denied"),
])
def test_opening_a_store_on_a_bad_url_is_a_config_error_without_the_password(url, reason):
    from pgtask.errors import ConfigError

    with pytest.raises(ConfigError, match=reason) as info:
        asyncio.run(open_store(url))
    assert "hunter2" not in str(info.value) and "***" in str(info.value)
