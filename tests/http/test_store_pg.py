"""The HTTP SQL (real Postgres): dispatch policies, the attempt journal, shared rates, prune."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg

from pgtask.models import QueuePolicy
from pgtask.store.postgres.store import PostgresStore
from pgtask.worker.http.targets import HttpTargets
from tests.support.waiting import await_until

from .helpers import DATABASE_ID, make_config, make_dispatcher, make_task
from .target import Reply


async def with_store(dsn, body):
    store = PostgresStore(dsn)
    await store.open()
    try:
        return await body(store)
    finally:
        await store.close()


def test_policies_come_from_the_queue_rows(dsn, db):
    db.execute("""insert into pgtask.queues (name, target_url, dispatch_deadline,
                  concurrency_limit, rate_limit, rate_burst, max_attempts, min_backoff,
                  max_backoff, max_doublings)
                  values ('hooks', 'http://127.0.0.1:9/x', '2.5 s', 7, 100, 20, 4, '2 s',
                          '1 min', 3),
                         ('plain', null, default, null, null, default, default, default, default,
                          default)""")
    db.execute("select pgtask.register_worker('w1', 'h', 1, array['hooks'], null, 4)")
    db.execute("select pgtask.register_worker('w2', 'h', 2, null, null, 4)")

    async def body(store):
        return (await store.queue_policies(["hooks"]), await store.queue_policies())
    some, every = asyncio.run(with_store(dsn, body))
    hooks = some["hooks"]
    assert (hooks.target_url, hooks.dispatch_deadline, hooks.concurrency_limit) == \
        ("http://127.0.0.1:9/x", 2.5, 7)
    assert (hooks.rate_limit, hooks.rate_burst, hooks.max_attempts) == (100.0, 20, 4)
    assert (hooks.backoff.min_backoff, hooks.backoff.max_backoff, hooks.backoff.max_doublings) \
        == (2.0, 60.0, 3)
    assert hooks.workers == 2 and every["plain"].workers == 1 and every["plain"].target_url is None


def test_attempts_are_journaled_and_pruned_with_their_task(dsn, db, target):
    target.responder = lambda seen: Reply(503, "busy, try later", {"retry-after": "1"})
    task_id = db.execute("select pgtask.enqueue_task('orders.created', '{}', 'hooks')").fetchone()
    task_id = task_id["enqueue_task"]

    async def body(store):
        dispatcher = make_dispatcher(make_config())
        await dispatcher.open(store)
        policy = QueuePolicy("hooks", target_url=target.url())
        await dispatcher.dispatch(make_task(task_id, attempt=1), policy)
        target.responder = lambda seen: Reply(200, "{}")
        # Let the journal land: the retry reads it for its headers.
        async def journaled():
            return db.execute("select 1 from pgtask.http_attempts where task_id = %s",
                              (task_id,)).fetchone()
        await await_until(journaled, timeout=30, message="the first attempt's journal row")
        await dispatcher.dispatch(make_task(task_id, attempt=2), policy)
        await dispatcher.close()  # flushes
    asyncio.run(with_store(dsn, body))
    rows = db.execute("select attempt, status, reason, response, latency_ms, at <= now() as past "
                      "from pgtask.http_attempts where task_id = %s order by attempt",
                      (task_id,)).fetchall()
    assert [(r["attempt"], r["status"], r["reason"]) for r in rows] == \
        [(1, 503, "http 503"), (2, 200, "http 200")]
    assert rows[0]["response"] == "busy, try later" and all(r["past"] for r in rows)
    assert rows[0]["latency_ms"] > 0
    second = target.requests[1].headers
    assert (second["pgtask-execution-count"], second["pgtask-previous-response"]) == ("1", "503")
    # The 503 published an adaptive rate for every worker (and pgtask top) to see.
    rate = db.execute("select dispatch_rate, dispatch_rate_at from pgtask.queues "
                      "where name = 'hooks'").fetchone()
    assert rate["dispatch_rate"] > 0 and rate["dispatch_rate_at"] is not None

    db.execute("select pgtask.cancel_task(%s)", (task_id,))
    db.execute("select pgtask.prune('0 seconds', now() + interval '1 second')")
    assert db.execute("select count(*) from pgtask.http_attempts").fetchone()["count"] == 0


def test_a_rate_published_by_another_worker_is_adopted(dsn, db, target):
    db.execute("insert into pgtask.queues (name, target_url) values ('hooks', %s)",
               (target.url(),))

    async def body(store):
        targets = HttpTargets(make_config())
        targets.use_database_id(DATABASE_ID)
        await targets.open(store)
        assert targets.http_queues() == ["hooks"]
        db.execute("select pgtask.set_dispatch_rates(array['hooks'], array[3.0])")
        await targets.refresh()
        outcome = await targets.run(make_task(queue="hooks"))
        rates = targets.dispatcher.current_rates()
        await targets.close()
        return outcome, rates
    outcome, rates = asyncio.run(with_store(dsn, body))
    assert outcome.kind == "succeeded"
    assert 3.0 <= rates["hooks"] < 4.0


def test_worker_role_may_call_the_http_functions(dsn, db):
    db.execute(Path("sql/postgres/roles.sql").read_text())
    # Roles belong to the whole server: a name of this run's own, so two test runs sharing
    # one server (two developers, or xdist) never trip over each other's role.
    name = "http_worker_login_" + uuid.uuid4().hex[:12]
    login = psycopg.sql.Identifier(name)
    db.execute(psycopg.sql.SQL("create role {} login; grant pgtask_worker to {}").format(
        login, login))
    try:
        with psycopg.connect(dsn.replace("user=postgres", f"user={name}"),
                             autocommit=True) as conn:
            conn.execute("select * from pgtask.dispatch_policies()")
            conn.execute("select pgtask.record_http_attempts(array[1], array[1],"
                         " array['1 s'::interval], array[200], array[1.5], array['http 200'],"
                         " array['ok'])")
            conn.execute("select pgtask.set_dispatch_rates(array['x'], array[1.0])")
    finally:
        db.execute(psycopg.sql.SQL("drop owned by {}; drop role {}").format(login, login))
