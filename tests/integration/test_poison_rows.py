"""Rows Python cannot load as stored (issue 15 item 1): the worker and every reader survive.

Each poison value is written as the schema's owner (a raw INSERT, past every bound enqueue
checks) and, where enqueue_task accepts it, as the app role. A real worker process fails a
task whose payload cannot be decoded (dead, with the reason), runs a task whose run_at is out
of Python's range (clamped on load), finishes the batch-mates claimed with it and stays up;
`ls`, `show`, `top`, the API, /metrics and the dashboard answer with every poison row present,
and so does the next request.
"""

from __future__ import annotations

import signal
import time
import warnings

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from pgtask.resources import read_sql
from tests.ops.conftest import run_cli  # noqa: F401  (the CLI runner fixture)
from tests.support.waiting import wait_until

DEEP = 2000
# name -> (column, SQL expression of the stored value)
POISON = {
    "run_at_infinity": ("run_at", "'infinity'::timestamptz"),
    "run_at_minus_infinity": ("run_at", "'-infinity'::timestamptz"),
    "run_at_bc": ("run_at", "'4713-01-01 00:00:00+00 BC'::timestamptz"),
    "run_at_year_12000": ("run_at", "'12000-01-01 00:00:00+00'::timestamptz"),
    "payload_deep": ("payload", f"('{{\"a\": ' || repeat('[', {DEEP}) || repeat(']', {DEEP})"
                                " || '}')::jsonb"),
    "payload_huge_int": ("payload", "('{\"a\": ' || repeat('7', 5000) || '}')::jsonb"),
    "payload_float_overflow": ("payload", "('{\"a\": 1' || repeat('0', 400) || '.5}')::jsonb"),
}
# run_at values no claim reaches (in the future): those tasks stay queued.
NEVER_DUE = {"run_at_infinity", "run_at_year_12000"}
OK = psycopg.types.json.Jsonb({"do": "ok"})


def insert_as_owner(db, name: str) -> int:
    """The poison row, straight into the table (priority 10: claimed before its mates)."""
    column, expression = POISON[name]
    values = {"payload": "'{\"do\": \"ok\"}'::jsonb", "run_at": "now()", column: expression}
    statement = ("insert into pgtask.tasks (task_type, payload, run_at, priority) "
                 f"values ('chaos.run', {values['payload']}, {values['run_at']}, 10) "
                 "returning id")
    return db.execute(statement).fetchone()["id"]


def enqueue_as_app(dsn: str, db, name: str) -> int | None:
    """The same value through enqueue_task as pgtask_app: its id, or None when refused
    (which must be a clean error with an SQLSTATE)."""
    db.execute(read_sql("postgres/roles.sql"))
    column, expression = POISON[name]
    call = (f"select pgtask.enqueue_task('chaos.run', {expression}, priority => 10)"
            if column == "payload" else
            f"select pgtask.enqueue_task('chaos.run', '{{\"do\": \"ok\"}}', priority => 10, "
            f"run_at => {expression})")
    with psycopg.connect(dsn, autocommit=True) as app:
        app.execute("set role pgtask_app")
        try:
            return app.execute(call).fetchone()[0]
        except psycopg.Error as exc:
            assert exc.sqlstate, f"{name}: refused without an SQLSTATE: {exc!r}"
            return None


def task_state(db, task_id: int) -> dict:
    return db.execute("select state::text as state, message, errors from pgtask.all_tasks "
                      "where id = %s", (task_id,)).fetchone()


@pytest.mark.parametrize("name", sorted(POISON))
@pytest.mark.parametrize("writer", ["owner", "app"])
def test_worker_fails_or_runs_a_poison_task_and_goes_on(chaos_dsn, db, spawn, name, writer):
    poison = (insert_as_owner(db, name) if writer == "owner"
              else enqueue_as_app(chaos_dsn, db, name))
    if poison is None:  # the app role cannot write it: refused with an SQLSTATE (schema 0004)
        return
    mates = [db.execute("select pgtask.enqueue_task('chaos.run', %s) as id",
                        (OK,)).fetchone()["id"] for _ in range(4)]
    worker = spawn("--concurrency", "8")
    try:
        wait_until(lambda: all(task_state(db, i)["state"] == "succeeded" for i in mates),
                   timeout=30, message="the poison task's batch-mates to succeed")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the worker's log:\n{worker.log()[-3000:]}") from None
    row = task_state(db, poison)
    if name in NEVER_DUE:
        assert row["state"] == "queued"
    elif name.startswith("run_at"):  # clamped on load: the task itself is fine
        wait_until(lambda: task_state(db, poison)["state"] == "succeeded", timeout=20)
    else:
        wait_until(lambda: task_state(db, poison)["state"] == "dead", timeout=20,
                   message="the poison task to be failed")
        row = task_state(db, poison)
        assert "payload cannot be decoded" in row["message"], row
        assert len(row["errors"]) == 1, "dead at once, not retried"
    assert worker.proc.poll() is None, worker.log()
    assert "Traceback" not in worker.log(), worker.log()
    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0, worker.log()
    assert time.monotonic() - started < 10, "SIGTERM stops the worker at once"


@pytest.fixture
def poisoned(dsn, db) -> dict[str, int]:
    """Every poison row, queued and dead (history rows are read by other queries), and a
    running task whose run_at is -infinity."""
    ids = {"plain": db.execute("select pgtask.enqueue_task('chaos.run') as id").fetchone()["id"]}
    ids |= {name: insert_as_owner(db, name) for name in POISON}
    for name in POISON:  # finished copies: history rows are read by other queries
        task_id = insert_as_owner(db, name)
        claimed = db.execute(
            "update pgtask.tasks set state = 'running', attempt = 1, "
            "lease_token = gen_random_uuid(), lease_expires_at = now() + interval '1 minute', "
            "worker_id = 'w', "
            "attempted_at = now() where id = %s returning lease_token", (task_id,)).fetchone()
        db.execute("select pgtask.fail_task(%s, %s, 'boom', null, true)",
                   (task_id, claimed["lease_token"]))
        # Finished 10 s ago: inside the windows of top and /metrics, which end 1 s back.
        db.execute("update pgtask.task_history set attempted_at = now() - interval '20 s', "
                   "finished_at = now() - interval '10 s' where id = %s", (task_id,))
        ids[f"{name}_dead"] = task_id
    db.execute("insert into pgtask.tasks (task_type, state, attempt, lease_token, "
               "lease_expires_at, worker_id, attempted_at, run_at) values ('chaos.run', "
               "'running', 1, gen_random_uuid(), now() + interval '1 minute', 'w', "
               "now() - interval '10 s', "
               "'-infinity')")
    return ids


def test_cli_readers_answer(dsn, poisoned, run_cli):  # noqa: F811 (the fixture)
    for args in (["ls"], ["ls", "--json"], ["ls", "--state", "dead"], ["top", "--once"],
                 ["top", "--json"], ["stats"]):
        result = run_cli(*args, "--dsn", dsn)
        assert result.code == 0, (args, result)
    for name, task_id in poisoned.items():
        for extra in ([], ["--json"]):
            result = run_cli("show", str(task_id), *extra, "--dsn", dsn)
            assert result.code == 0, (name, extra, result)
    shown = run_cli("show", str(poisoned["payload_deep"]), "--dsn", dsn)
    assert "[[[[" in shown.out, "the raw payload is shown"


def test_web_readers_answer_and_the_next_request_too(dsn, poisoned):
    with warnings.catch_warnings():  # starlette suggests httpx2; httpx is what is installed
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from pgtask.web import create_app
    from pgtask.web.auth import AuthConfig

    with TestClient(create_app(dsn, auth=AuthConfig(), insecure=True, refresh_seconds=0.2),
                    base_url="http://localhost") as client:
        paths = ["/api/tasks", "/api/tasks?state=dead", "/api/tasks?after=0", "/metrics",
                 "/", "/ui/live", "/api/queues", "/api/workers"]
        for task_id in poisoned.values():
            paths += [f"/api/tasks/{task_id}", f"/tasks/{task_id}", f"/ui/tasks/{task_id}"]
        for _ in range(2):  # the second round: nothing was left broken by the first
            for path in paths:
                response = client.get(path)
                assert response.status_code == 200, (path, response.text[:500])
        body = client.get(f"/api/tasks/{poisoned['payload_huge_int']}").json()
        assert "7777" in str(body["payload"]), "the raw payload is shown"


def test_store_readers_answer(dsn, poisoned):
    from pgtask.store.operators import open_operator
    from pgtask.store.postgres.syncpool import open_browsers

    with open_operator(dsn) as operator:
        assert len(operator.list_tasks(limit=1000)) >= len(poisoned)
        operator.top_rows()
        for task_id in poisoned.values():
            assert operator.task_detail(task_id) is not None
    pool = open_browsers(dsn)
    try:
        with pool.session() as browser:
            browser.list_page(limit=1000)
            browser.recent_failures()
            marks = browser.start_marks()
            browser.metrics_rows(marks["until"].replace(year=2000), 0, [0.1, 1.0, 10.0])
            for task_id in poisoned.values():
                task = browser.task_row(task_id)
                assert task is not None
                browser.chain(task)
    finally:
        pool.close()


def test_decoded_values_say_what_they_are(db, poisoned, dsn):
    from pgtask.store.postgres import decode
    from pgtask.undecodable import RawJson

    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        decode.register(conn)
        rows = {name: conn.execute(sql.SQL("select payload, run_at from pgtask.all_tasks "
                                           "where id = %s"), (task_id,)).fetchone()
                for name, task_id in poisoned.items()}
    assert isinstance(rows["payload_deep"]["payload"], RawJson)
    assert "nested deeper" in rows["payload_deep"]["payload"].reason
    assert isinstance(rows["payload_huge_int"]["payload"], RawJson)
    assert isinstance(rows["payload_float_overflow"]["payload"], RawJson)
    assert rows["run_at_infinity"]["run_at"].year == 9999
    assert rows["run_at_minus_infinity"]["run_at"].year == 1
    assert rows["run_at_bc"]["run_at"].year == 1
    assert rows["run_at_year_12000"]["run_at"].year == 9999
