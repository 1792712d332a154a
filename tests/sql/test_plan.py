"""The claim reads the partial index in claim order and stops after `batch` rows.

Measured with 100,000 finished tasks in history, 1,000 queued and 50 running, ANALYZEd: the
generic plan of claim_task's main query (CLAIM_QUERY, a claim of 10 from one queue) is

    Limit (actual rows=10 loops=1)
      Buffers: shared hit=22
      ->  LockRows (actual rows=10 loops=1)
            Buffers: shared hit=22
            ->  Index Scan using tasks_claim_order on tasks t (actual rows=10 loops=1)
                  Index Cond: (run_at <= $1)
                  Filter: ((state = 'queued'::pgtask.task_state) AND (queue = ANY ($2))
                           AND (($3 IS NULL) OR (task_type = ANY ($3))
                           OR ($5 AND ((target_url IS NOT NULL) OR (queue = ANY ($6))))))
                  Buffers: shared hit=12

CLAIM_QUERY is a copy of the function's query; the last test reads the plan of the statement
inside the function itself (auto_explain), so a copy that drifts cannot hide a regression.
"""

from __future__ import annotations

import random
import re
from datetime import timedelta

from psycopg import sql

from .helpers import claim, db_now, enqueue_many, finish

# The SELECT claim_task runs for queues without limits (copied from sql/postgres/pgtask.sql;
# PL/pgSQL variables become parameters, as they do inside the function: $1 _now, $2 _open,
# $3 task_types, $4 _wanted, $5 with_targets, $6 _targeted, $7 the queues argument,
# $8 _closed).
CLAIM_QUERY = """
select t.id from pgtask.tasks t
 where t.state = 'queued' and t.run_at <= $1
   and case when $7::text[] is null then t.queue <> all($8::text[]) else t.queue = any($2) end
   and ($3::text[] is null or t.task_type = any($3)
        or ($5::boolean and (t.target_url is not null or t.queue = any($6::text[]))))
 order by t.priority desc, t.run_at, t.id
 limit $4
 for update skip locked
"""

# The same for one queue with a concurrency or rate limit ($2 is _q.name, $6 _q.target_url).
LIMITED_CLAIM_QUERY = """
select t.id from pgtask.tasks t
 where t.state = 'queued' and t.queue = $2 and t.run_at <= $1
   and ($3::text[] is null or t.task_type = any($3)
        or ($5::boolean and (t.target_url is not null or $6::text is not null)))
 order by t.priority desc, t.run_at, t.id
 limit $4
 for update skip locked
"""

HISTORY_ROWS = 100_000
QUEUED = 1_000


def fill(db) -> None:
    db.execute(
        "insert into pgtask.task_history (id, queue, task_type, payload, state, priority,"
        " run_at, attempt, created_at, finished_at, errors)"
        " select nextval('pgtask.task_id_seq'), 'default', 'done', '{}',"
        "  (array['succeeded', 'dead', 'cancelled']::pgtask.task_state[])[1 + mod(i, 3)],"
        "  mod(i, 7), now() - interval '1 hour', 1, now() - interval '1 hour', now(), '[]'"
        " from generate_series(1, %s) i", (HISTORY_ROWS,))
    rng = random.Random(7)
    now = db_now(db)
    enqueue_many(db, ["work"] * QUEUED,
                 priorities=[rng.choice([-5, 0, 0, 0, 3, 10]) for _ in range(QUEUED)],
                 run_ats=[now - timedelta(seconds=rng.randrange(3600)) for _ in range(QUEUED)])
    enqueue_many(db, ["work"] * 50, queues=["busy"] * 50)
    claim(db, queues=["busy"], batch=50)
    db.execute("analyze pgtask.tasks")
    db.execute("analyze pgtask.task_history")


def explain(db, query: str, queue: list[str] | str, generic: bool = False) -> str:
    """EXPLAIN ANALYZE of `query` prepared as PL/pgSQL prepares it, claiming 10 from `queue`."""
    db.execute("select set_config('plan_cache_mode', %s, false)",
               ("force_generic_plan" if generic else "auto",))
    db.execute("deallocate all")
    queue_type = sql.SQL("text[]" if isinstance(queue, list) else "text")
    db.execute(sql.SQL("prepare claim_plan(timestamptz, {}, text[], integer, boolean, {},"
                       " text[], text[]) as {}").format(queue_type, queue_type, sql.SQL(query)))
    named = queue if isinstance(queue, list) else None
    rows = db.execute(sql.SQL("explain (analyze, buffers, costs off, timing off) "
                              "execute claim_plan(now(), {}, null, 10, false, null, {}, '{{}}')"
                              ).format(sql.Literal(queue), sql.Literal(named))).fetchall()
    return "\n".join(r["QUERY PLAN"] for r in rows)


def assert_walks(index: str, plan: str, shown: str) -> None:
    """`plan` reads `index` in order and stops after the 10 rows wanted: no sort, no scan."""
    assert re.search(rf"Index Scan using {index} on tasks t .*rows=10 loops=1", plan), shown
    assert "Sort" not in plan and "Seq Scan" not in plan, shown


def test_claim_queries_walk_the_claim_indexes(db):
    fill(db)
    for query, queue, index, generic in [
        (CLAIM_QUERY, ["default"], "tasks_claim_order", False),
        (CLAIM_QUERY, ["default"], "tasks_claim_order", True),
        (LIMITED_CLAIM_QUERY, "default", "tasks_queue_claim_order", False),
    ]:
        plan = explain(db, query, queue, generic=generic)
        assert_walks(index, plan, plan)
        print(plan)


def collect_plans(db) -> list[str]:
    """From now on, the plans of every statement `db` runs, nested ones included."""
    notes: list[str] = []
    db.add_notice_handler(lambda diag: notes.append(diag.message_primary or ""))
    db.execute("load 'auto_explain'")
    for setting, value in [("auto_explain.log_min_duration", "0"),
                           ("auto_explain.log_nested_statements", "on"),
                           ("auto_explain.log_analyze", "on"),
                           ("auto_explain.log_buffers", "on"),
                           ("auto_explain.log_timing", "off"),
                           ("client_min_messages", "log")]:
        db.execute("select set_config(%s, %s, false)", (setting, value))
    return notes


def claim_with_plans(db, queue: str, batch: int) -> tuple[list[dict], list[str]]:
    """Claim, and the plans of every statement the claim ran, nested ones included."""
    notes = collect_plans(db)
    rows = claim(db, queues=[queue], batch=batch)
    db.execute("select set_config('client_min_messages', 'notice', false)")
    return rows, [note for note in notes if "plan:" in note]


def test_claim_task_walks_the_partial_index_and_returns_the_first_rows(db):
    fill(db)
    expected = [r["id"] for r in db.execute(
        "select id from pgtask.tasks where state = 'queued' and queue = 'default'"
        " order by priority desc, run_at, id limit 10").fetchall()]
    rows, plans = claim_with_plans(db, "default", 10)
    assert [r["id"] for r in rows] == expected
    assert {r["priority"] for r in rows} == {10}
    [walk] = [p for p in plans if "t.queue = any(_open)" in p]
    assert_walks("tasks_claim_order", walk, walk)
    # The picked ids are then updated through the primary key, never a scan of the table
    # (a generic plan of the old CTE join hashed all of it).
    [update] = [p for p in plans if "t.id = any(_ids)" in p]
    assert "Index Scan using tasks_pkey on tasks t" in update, update
    assert "Seq Scan on tasks" not in update, update
    print(walk, update)


def test_finish_probes_each_outcome_by_primary_key_whatever_the_statistics(db):
    """Statistics taken while nothing ran (as after a burst) once made finish_tasks scan every
    running task for every outcome: 100 x 100 comparisons a flush of 100. Now each outcome is
    one primary-key probe, so the work grows with the outcomes alone."""
    enqueue_many(db, ["work"] * 300)
    db.execute("analyze pgtask.tasks")  # zero running tasks, as far as the planner knows
    rows = claim(db, batch=200)
    notes = collect_plans(db)
    done = rows[:100]
    applied = finish(db, [r["id"] for r in done], [r["lease_token"] for r in done],
                     ["succeeded"] * len(done))
    assert len(applied) == 100
    [plan] = [n for n in notes if "plan:" in n and "with input as" in n]
    assert re.search(r"Index Scan using tasks_pkey on tasks t\w* .*loops=100", plan), plan
    assert "Rows Removed by Join Filter" not in plan, plan
