"""Whatever enqueue_task and enqueue_tasks accept from the app role, every reader can read.

Hypothesis sends arbitrary values, as text cast in SQL (so that 'infinity', BC dates,
payloads nested thousands deep and numbers of thousands of digits reach the server as
such), through every argument of both functions as pgtask_app. Each call is refused with
an SQLSTATE or stored. Then a worker runs over everything stored (a task whose payload it
cannot decode is failed, the others succeed) and every reader reads every row: the store's
inspect and browse functions, and the web app's API, task pages, dashboard and /metrics.
"""

from __future__ import annotations

import json
import warnings

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pgtask
from pgtask.resources import read_sql
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until

# No NUL and no lone surrogate: the driver refuses both before the server sees them.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12)


def mostly(usual: st.SearchStrategy, odd: st.SearchStrategy, one_in: int = 6
           ) -> st.SearchStrategy:
    """`usual`, and `odd` one time in `one_in`: most calls pass every check but one, so
    that rows are stored and the hostile values among them reach the readers."""
    # Not n == 0: Hypothesis favours the ends of a range, which would make `odd` common.
    return st.integers(0, 1000).flatmap(lambda n: odd if n % one_in == 3 else usual)


@st.composite
def hostile_json(draw: st.DrawFn) -> str:
    """A JSON object, ordinary or made to defeat a reader: deep, huge numbers, inf floats."""
    kind = draw(st.sampled_from(["object", "deep", "digits", "float", "exponent"]))
    if kind == "object":
        return json.dumps(draw(st.dictionaries(TEXT, JSON_VALUES, max_size=4)))
    if kind == "deep":
        n = draw(st.integers(1, 3000))
        return '{"a": ' + "[" * n + "]" * n + "}"
    if kind == "digits":
        digits = draw(st.one_of(st.integers(1, 6000), st.integers(4290, 4310)))  # int limit
        return '{"a": ' + "9" * digits + "}"
    if kind == "float":
        return '{"a": 1' + "0" * draw(st.integers(300, 500)) + ".5}"
    return '{"a": 1e' + str(draw(st.integers(-500, 500))) + "}"


NAMES = mostly(st.sampled_from(["default", "emails.send", "a", "q-1:x_y.z"]), TEXT)
PAYLOADS = mostly(hostile_json(), st.one_of(st.none(), JSON_VALUES.map(json.dumps)))
TIMESTAMPS = mostly(
    st.one_of(st.none(), st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
              st.sampled_from(["infinity", "-infinity", "4713-01-01 00:00:00+00 BC",
                               "0001-01-01", "1969-12-31 23:59:59+00", "12000-01-01",
                               "294276-12-31", "now", "epoch",
                               "9999-12-31 23:59:59.999999-12"])),
    TEXT)
WIDE = st.one_of(st.integers(-2**40, 2**40).map(str), TEXT)
PRIORITIES = mostly(st.integers(-1000, 1000).map(str), st.one_of(st.none(), WIDE))
ATTEMPTS = mostly(st.one_of(st.none(), st.integers(1, 1000).map(str)), WIDE)
KEYS = mostly(st.none(), TEXT, one_in=3)
URLS = mostly(st.none(), st.one_of(
    st.sampled_from(["http://example.test/x", "https://u:p@h/?t=1"]), TEXT), one_in=3)
ON_DONE = mostly(st.none(), st.one_of(
    hostile_json(), st.just('[{"task_type": "follow.up", "payload": {}}]')), one_in=4)

ENQUEUE_TASK = ("select pgtask.enqueue_task(%s::text, %s::jsonb, %s::text, %s::timestamptz, "
                "%s::integer, %s::text, %s::integer, %s::text, %s::jsonb, %s::jsonb)")
ENQUEUE_TASKS = ("select pgtask.enqueue_tasks(%s::text[], %s::text[]::jsonb[], %s::text[], "
                 "%s::text[]::timestamptz[], %s::text[]::integer[], %s::text[], "
                 "%s::text[]::integer[], %s::text[], %s::text[]::jsonb[], "
                 "%s::text[]::jsonb[])")
ONE_CALL = st.tuples(NAMES, PAYLOADS, NAMES, TIMESTAMPS, PRIORITIES, KEYS, ATTEMPTS, URLS,
                     ON_DONE, ON_DONE)


@st.composite
def many_call(draw: st.DrawFn) -> tuple[list[str | None] | None, ...]:
    """enqueue_tasks arguments: each array given (of 1-3 elements) or null."""
    size = draw(st.integers(1, 3))
    calls = draw(st.lists(ONE_CALL, min_size=size, max_size=size))
    columns = list(zip(*calls, strict=True))
    return tuple(None if draw(st.booleans()) and i else list(column)
                 for i, column in enumerate(columns))


def call(conn: psycopg.Connection, statement: str, args: tuple) -> list[int]:
    """The ids stored, or [] when the call is refused: cleanly, with an SQLSTATE."""
    try:
        return [row[0] for row in conn.execute(statement, args).fetchall() if row[0]]
    except psycopg.Error as exc:
        assert exc.sqlstate, f"refused without an SQLSTATE: {exc!r} for {args!r}"
        return []


@pytest.fixture
def app(dsn, db):
    db.execute(read_sql("postgres/roles.sql"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("set role pgtask_app")
        yield conn


def test_whatever_the_app_role_enqueues_every_reader_reads(dsn, db, app):
    stored: list[int] = []
    quick = settings(deadline=None, database=None, derandomize=True,
                     suppress_health_check=list(HealthCheck))

    @settings(quick, max_examples=400)
    @given(ONE_CALL)
    def enqueue_one(args):
        stored.extend(call(app, ENQUEUE_TASK, args))

    @settings(quick, max_examples=150)
    @given(many_call())
    def enqueue_many(args):
        stored.extend(call(app, ENQUEUE_TASKS, args))

    enqueue_one()
    enqueue_many()
    assert len(stored) > 30, "most calls should store a task"
    run_worker_over(dsn, db)
    read_with_the_store(dsn, stored)
    read_with_the_web(dsn, stored)


def run_worker_over(dsn: str, db) -> None:
    """A worker with a handler for every stored type runs until nothing due is left."""
    registry = pgtask.Registry()
    types = {row["task_type"] for row in db.execute("select task_type from pgtask.tasks")}
    for task_type in types | {"follow.up"}:  # follow-ups are enqueued as their parents end
        registry.task(task_type)(lambda task: None)
    due = ("select count(*) as n from pgtask.tasks where state = 'running' "
           "or run_at <= now()")
    with running_worker(dsn, registry, concurrency=20):
        wait_until(lambda: db.execute(due).fetchone()["n"] == 0, timeout=20,
                   message="every due task to be finished")


def read_with_the_store(dsn: str, ids: list[int]) -> None:
    from pgtask.store.operators import open_operator
    from pgtask.store.postgres.syncpool import open_browsers

    with open_operator(dsn) as operator:
        after = 0
        while rows := operator.list_tasks(after=after, limit=100):
            after = rows[-1]["id"]
        operator.top_rows()
        operator.task_counts()
        for task_id in ids:
            operator.task_detail(task_id)
    pool = open_browsers(dsn)
    try:
        with pool.session() as browser:
            browser.list_page(limit=1000)
            browser.recent_failures(100)
            marks = browser.start_marks()
            browser.metrics_rows(marks["until"].replace(year=2000), 0, [0.1, 1.0])
            for task_id in ids:
                task = browser.task_row(task_id)
                if task is not None:
                    browser.chain(task)
    finally:
        pool.close()


def read_with_the_web(dsn: str, ids: list[int]) -> None:
    with warnings.catch_warnings():  # starlette suggests httpx2; httpx is what is installed
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from pgtask.web import create_app
    from pgtask.web.auth import AuthConfig

    paths = ["/", "/ui/live", "/metrics", "/api/tasks?state=dead", "/api/tasks?limit=500"]
    paths += [p for task_id in ids[:150]
              for p in (f"/api/tasks/{task_id}", f"/tasks/{task_id}")]
    app = create_app(dsn, auth=AuthConfig(), insecure=True)
    with TestClient(app, base_url="http://localhost") as client:
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:300])
