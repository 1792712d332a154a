"""retry / cancel / queue / prune / unstick on MariaDB change exactly what they say
(tests/ops/test_admin_cli.py, on MySQL)."""

import pytest

from tests.ops.test_admin_cli import _changed

from .seed import make, rows, states_by_id

pytestmark = pytest.mark.mysql


@pytest.fixture
def population(conn):
    return {(queue, state): [make(conn, state, queue=queue) for _ in range(3)]
            for queue in ("a", "b") for state in ("queued", "running", "dead", "cancelled")}


def test_bulk_retry_touches_only_the_dead_of_the_queue(run_cli, mysql_dsn, conn, population):
    before = states_by_id(conn)
    asked = run_cli("retry", "--state", "dead", "--queue", "a", "--dsn", mysql_dsn)
    assert asked.code == 1 and "Retry 3 dead tasks (queue=a)?" in asked.err
    assert states_by_id(conn) == before
    result = run_cli("retry", "--queue", "a", "--dsn", mysql_dsn, stdin="y\n")
    assert result.code == 0 and "retried 3 of 3" in result.out
    after = states_by_id(conn)
    assert _changed(before, after) == set(population[("a", "dead")])
    assert {after[i] for i in population[("a", "dead")]} == {("a", "queued")}


def test_retry_by_id_reports_what_could_not_be_retried(run_cli, mysql_dsn, conn, population):
    dead, cancelled = population[("b", "dead")][0], population[("b", "cancelled")][0]
    queued = population[("b", "queued")][0]
    before = states_by_id(conn)
    result = run_cli("retry", str(dead), str(cancelled), str(queued), "--dsn", mysql_dsn)
    assert "retried 2 of 3" in result.out and str(queued) in result.err
    assert _changed(before, states_by_id(conn)) == {dead, cancelled}


def test_bulk_cancel_touches_only_the_selected(run_cli, mysql_dsn, conn, population):
    before = states_by_id(conn)
    result = run_cli("cancel", "--state", "running", "--queue", "b", "--yes", "--dsn", mysql_dsn)
    assert result.code == 0 and "cancelled 3 of 3" in result.out
    after = states_by_id(conn)
    assert _changed(before, after) == set(population[("b", "running")])
    one = population[("a", "queued")][1]
    assert "cancelled 1 of 1" in run_cli("cancel", str(one), "--dsn", mysql_dsn).out
    assert _changed(after, states_by_id(conn)) == {one}
    [reason] = rows(conn, "SELECT message FROM pgtask_task_history WHERE id = %s", one)
    assert reason["message"] == "cancelled by an operator"
    none = run_cli("cancel", "--queue", "nothing-here", "--yes", "--dsn", mysql_dsn)
    assert none.code == 0 and "no tasks (queue=nothing-here) to cancel" in none.out


def _queue(conn, name):
    return rows(conn, "SELECT * FROM pgtask_queues WHERE name = %s", name)[0]


def test_queue_set_ls_pause_resume(run_cli, mysql_dsn, conn):
    result = run_cli("queue", "set", "mail", "--concurrency-limit", "5", "--rate", "10/m",
                     "--burst", "20", "--max-attempts", "7", "--min-backoff", "500ms",
                     "--max-backoff", "1h", "--max-doublings", "8", "--jitter", "0.1",
                     "--lease", "45s", "--target-url", "https://example.test/hook",
                     "--dispatch-deadline", "10s", "--dsn", mysql_dsn)
    assert result.code == 0, result.err
    assert "mail" in result.out and "10/m b20" in result.out
    row = _queue(conn, "mail")
    assert (row["concurrency_limit"], row["rate_limit"], row["rate_burst"], row["max_attempts"],
            row["max_doublings"], row["backoff_jitter"]) == (5, pytest.approx(1 / 6), 20, 7, 8, 0.1)
    assert (row["min_backoff"], row["max_backoff"], row["lease"], row["dispatch_deadline"]) == \
        (0.5, 3600, 45, 10)
    assert row["target_url"] == "https://example.test/hook"
    run_cli("queue", "set", "mail", "--rate", "none", "--target-url", "none",
            "--concurrency-limit", "none", "--dsn", mysql_dsn)
    row = _queue(conn, "mail")
    assert (row["rate_limit"], row["target_url"], row["concurrency_limit"]) == (None, None, None)
    assert row["max_attempts"] == 7  # untouched
    listing = run_cli("queue", "ls", "--dsn", mysql_dsn).out
    assert "mail" in listing and "500ms..1h x8" in listing
    assert run_cli("queue", "pause", "mail", "--dsn", mysql_dsn).out.strip() == "queue mail paused"
    assert _queue(conn, "mail")["paused"]
    again = run_cli("queue", "pause", "mail", "--dsn", mysql_dsn)  # already paused: still found
    assert again.code == 0
    run_cli("queue", "resume", "mail", "--dsn", mysql_dsn)
    assert not _queue(conn, "mail")["paused"]
    missing = run_cli("queue", "pause", "nope", "--dsn", mysql_dsn)
    assert missing.code == 1 and "no queue named 'nope'" in missing.err


@pytest.mark.parametrize("args, message", [
    (("--max-backoff", "100ms", "--min-backoff", "1s"),
     "max_backoff (00:00:00.1) must not be shorter than min_backoff (00:00:01)"),
    (("--max-attempts", "0"), "max_attempts must be from 1 to 1000, got 0"),
    (("--jitter", "2"), "backoff_jitter must be from 0 to 1, got 2"),
    (("--burst", "0"), "rate_burst must be at least 1, got 0"),
    (("--target-url", "ftp://x"), "target_url must start with http"),
    (("--concurrency-limit", "0"), "concurrency_limit must be at least 1, got 0"),
])
def test_queue_set_refuses_bad_values_as_postgres_does(run_cli, mysql_dsn, conn, args, message):
    result = run_cli("queue", "set", "mail", *args, "--dsn", mysql_dsn)
    assert result.code == 2 and f"pgtask: {message}" in result.err
    assert rows(conn, "SELECT name FROM pgtask_queues") == []  # refused as a whole


def test_prune_asks_then_forgets_old_history(run_cli, mysql_dsn, conn):
    old, recent = make(conn, "succeeded"), make(conn, "dead")
    rows(conn, "UPDATE pgtask_task_history SET finished_at = finished_at - INTERVAL 8 DAY "
               "WHERE id = %s", old)
    assert "no finished tasks older than 30d" in run_cli("prune", "--older-than", "30d",
                                                         "--dsn", mysql_dsn).out
    asked = run_cli("prune", "--dsn", mysql_dsn)
    assert asked.code == 1 and "Delete 1 finished tasks older than 7d?" in asked.err
    assert "pruned 1 task(s)" in run_cli("prune", "--older-than", "7d", "-y",
                                         "--dsn", mysql_dsn).out
    assert set(states_by_id(conn)) == {recent}


def test_unstick_rescues_expired_leases(run_cli, mysql_dsn, conn):
    task = make(conn, "running")
    rows(conn, "UPDATE pgtask_tasks SET lease_expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
               "WHERE id = %s", task)
    assert "rescued 1 task(s)" in run_cli("unstick", "--dsn", mysql_dsn).out
    assert states_by_id(conn)[task] == ("default", "queued")
