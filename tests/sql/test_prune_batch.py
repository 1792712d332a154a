"""pgtask.prune_batch: prune's bounded form, one short transaction per call (issue 17)."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from .helpers import claim, complete, count, db_now, enqueue

DAY = timedelta(days=1)
# `n` finished tasks in history, the oldest first (task i finished i ms after 30 days ago);
# one in ten with an idempotency key, one in five with a log line and an HTTP attempt.
EXPIRED = """
with rows as (
  insert into pgtask.task_history (id, queue, task_type, payload, state, priority, run_at,
                                   attempt, created_at, finished_at, errors, idempotency_key)
  select 1000000 + i, 'default', 't', '{}', 'succeeded', 0, now() - interval '31 days', 1,
         now() - interval '31 days', now() - interval '30 days' + i * interval '1 ms', '[]',
         case when i %% 10 = 0 then 'k' || i end
    from generate_series(1, %(n)s) i
  returning id, queue, idempotency_key
), keys as (
  insert into pgtask.idempotency_keys (queue, key, task_id)
  select queue, idempotency_key, id from rows where idempotency_key is not null
), logs as (
  insert into pgtask.task_logs (task_id, attempt, at, level, message)
  select id, 1, now(), 'info', 'line' from rows where id %% 5 = 0
)
insert into pgtask.http_attempts (task_id, attempt, at, status, latency_ms)
select id, 1, now(), 200, 1 from rows where id %% 5 = 0
"""


def expire(db, n: int) -> None:
    db.execute(EXPIRED, {"n": n})


def prune_batch(db, batch_size: int, older_than: str = "1 day") -> int:
    return db.execute("select pgtask.prune_batch(%s, %s) as n",
                      (older_than, batch_size)).fetchone()["n"]


def ids(db, table: str, column: str = "task_id") -> set[int]:
    return {r["i"] for r in db.execute(f"select {column} as i from pgtask.{table}").fetchall()}


def test_each_call_forgets_at_most_batch_size_tasks_the_oldest_first(db):
    expire(db, 25)
    assert [prune_batch(db, 10) for _ in range(4)] == [10, 10, 5, 0]
    expire(db, 25)
    assert prune_batch(db, 10) == 10
    assert ids(db, "task_history", "id") == set(range(1000011, 1000026))


def test_keys_logs_and_http_attempts_go_with_their_task_and_no_others(db):
    expire(db, 20)
    assert prune_batch(db, 10) == 10
    kept = set(range(1000011, 1000021))
    assert ids(db, "task_history", "id") == kept
    assert ids(db, "idempotency_keys") == {1000020}
    assert ids(db, "task_logs") == ids(db, "http_attempts") == {1000015, 1000020}
    # The forgotten key is free again; the kept one still names its task.
    assert enqueue(db, key="k10") not in kept
    assert enqueue(db, key="k20") == 1000020


def test_tasks_finished_within_the_retention_and_unfinished_ones_stay(db):
    now = db_now(db)
    expire(db, 3)
    recent = enqueue(db, key="recent")
    [row] = claim(db, batch=1)
    assert complete(db, recent, row["lease_token"], now=now - 6 * DAY)
    running = enqueue(db, key="running")
    claim(db, batch=1)
    assert prune_batch(db, 100, "7 days") == 3
    assert prune_batch(db, 100, "7 days") == 0
    assert ids(db, "task_history", "id") == {recent}
    assert {r["key"] for r in db.execute("select key from pgtask.idempotency_keys")} == {
        "recent", "running"}
    assert count(db, "tasks") == 1 and running


def test_old_completed_groups_and_fire_times_go_a_bounded_number_per_call(db):
    db.execute("""insert into pgtask.groups (size, remaining, on_complete, completed_at)
                  select 1, 0, '[]', now() - interval '30 days' from generate_series(1, 5)""")
    db.execute("insert into pgtask.groups (size, remaining, on_complete) values (1, 1, '[]')")
    assert prune_batch(db, 2) == 0
    assert count(db, "groups") == 4
    assert [prune_batch(db, 2) for _ in range(3)] == [0, 0, 0]
    assert count(db, "groups") == 1  # the open group stays


@pytest.mark.parametrize("batch_size", [0, -1, 1_000_001, None])
def test_a_batch_size_outside_1_to_a_million_is_refused(shared_db, batch_size):
    with pytest.raises(psycopg.errors.InvalidParameterValue,
                       match="batch_size must be between 1 and 1000000"):
        shared_db.execute("select pgtask.prune_batch('1 day', %s::integer)", (batch_size,))


def test_the_largest_batch_size_is_accepted(db):
    expire(db, 3)
    assert prune_batch(db, 1_000_000) == 3


def test_the_default_retention_is_seven_days_and_the_default_batch_ten_thousand(db):
    expire(db, 3)
    assert db.execute("select pgtask.prune_batch() as n").fetchone()["n"] == 3
    signature = db.execute("""select pg_get_function_arguments(
        'pgtask.prune_batch(interval, integer, timestamptz)'::regprocedure) as a""").fetchone()
    assert "batch_size integer DEFAULT 10000" in signature["a"]


def test_the_worker_role_may_prune_in_batches_but_not_pass_now(as_role, db):
    expire(db, 3)
    worker = as_role("pgtask_worker")
    with pytest.raises(psycopg.errors.InsufficientPrivilege,
                       match='only the owner of schema pgtask may pass "now"'):
        worker.execute("select pgtask.prune_batch('0 seconds', 10, now => 'infinity')")
    assert worker.execute("select pgtask.prune_batch('1 day', 2) as n").fetchone()["n"] == 2
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_role("pgtask_app").execute("select pgtask.prune_batch()")


def test_the_owner_may_pass_now(db):
    expire(db, 2)
    now = db_now(db)
    assert db.execute("select pgtask.prune_batch('60 days', 10, %s) as n",
                      (now,)).fetchone()["n"] == 0
    assert db.execute("select pgtask.prune_batch('7 days', 10, %s) as n",
                      (now,)).fetchone()["n"] == 2


def test_two_pruners_share_the_work_instead_of_waiting(db, dsn):
    """SKIP LOCKED: a second pruner passes over the rows a first one holds."""
    expire(db, 10)
    with psycopg.connect(dsn) as first:
        assert first.execute("select pgtask.prune_batch('1 day', 4)").fetchone()[0] == 4
        # first's transaction is open: its 4 rows are locked, not yet gone.
        db.execute("set lock_timeout = '5s'")
        assert prune_batch(db, 10) == 6
        first.commit()
    assert count(db, "task_history") == 0
