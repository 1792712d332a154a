"""retry / cancel / queue / prune / unstick change exactly what they say, on either backend."""

import pytest

from .backends import OpsBackend


@pytest.fixture
def population(backend: OpsBackend):
    return {(queue, state): [backend.make(state, queue=queue) for _ in range(3)]
            for queue in ("a", "b") for state in ("queued", "running", "dead", "cancelled")}


def _changed(before, after):
    return {task_id for task_id in before if before[task_id] != after[task_id]}


def test_bulk_retry_touches_only_the_dead_of_the_queue(run_cli, backend, population):
    dsn = backend.dsn
    before = backend.states_by_id()
    asked = run_cli("retry", "--state", "dead", "--queue", "a", "--dsn", dsn)  # no --yes: asks
    assert asked.code == 1 and "Retry 3 dead tasks (queue=a)?" in asked.err
    assert backend.states_by_id() == before
    result = run_cli("retry", "--queue", "a", "--dsn", dsn, stdin="y\n")  # state defaults to dead
    assert result.code == 0 and "retried 3 of 3" in result.out
    after = backend.states_by_id()
    assert _changed(before, after) == set(population[("a", "dead")])
    assert {after[i] for i in population[("a", "dead")]} == {("a", "queued")}


def test_retry_by_id_reports_what_could_not_be_retried(run_cli, backend, population):
    dead, cancelled = population[("b", "dead")][0], population[("b", "cancelled")][0]
    queued = population[("b", "queued")][0]
    before = backend.states_by_id()
    result = run_cli("retry", str(dead), str(cancelled), str(queued), "--dsn", backend.dsn)
    assert "retried 2 of 3" in result.out and str(queued) in result.err
    assert _changed(before, backend.states_by_id()) == {dead, cancelled}


def test_bulk_cancel_touches_only_the_selected(run_cli, backend, population):
    dsn = backend.dsn
    before = backend.states_by_id()
    result = run_cli("cancel", "--state", "running", "--queue", "b", "--yes", "--dsn", dsn)
    assert result.code == 0 and "cancelled 3 of 3" in result.out
    after = backend.states_by_id()
    assert _changed(before, after) == set(population[("b", "running")])
    one = population[("a", "queued")][1]
    assert "cancelled 1 of 1" in run_cli("cancel", str(one), "--dsn", dsn).out
    assert _changed(after, backend.states_by_id()) == {one}
    [reason] = backend.rows("select message from pgtask.task_history where id = %s", one)
    assert reason["message"] == "cancelled by an operator"


def test_bulk_commands_refuse_ambiguity(run_cli, backend, population):
    dsn = backend.dsn
    assert run_cli("retry", "--dsn", dsn).code == 2
    both = run_cli("cancel", "1", "--queue", "a", "--dsn", dsn)
    assert both.code == 2 and "not both" in both.err
    none = run_cli("cancel", "--queue", "nothing-here", "--yes", "--dsn", dsn)
    assert none.code == 0 and "no tasks (queue=nothing-here) to cancel" in none.out


def test_queue_set_ls_pause_resume(run_cli, backend):
    dsn = backend.dsn
    result = run_cli("queue", "set", "mail", "--concurrency-limit", "5", "--rate", "10/m",
                     "--burst", "20", "--max-attempts", "7", "--min-backoff", "500ms",
                     "--max-backoff", "1h", "--max-doublings", "8", "--jitter", "0.1",
                     "--lease", "45s", "--target-url", "https://example.test/hook",
                     "--dispatch-deadline", "10s", "--dsn", dsn)
    assert result.code == 0, result.err
    assert "mail" in result.out and "10/m b20" in result.out
    row = backend.queue_row("mail")
    assert (row["concurrency_limit"], row["rate_limit"], row["rate_burst"], row["max_attempts"],
            row["max_doublings"], row["backoff_jitter"]) == (5, pytest.approx(1 / 6), 20, 7, 8, 0.1)
    assert (row["min_backoff"], row["max_backoff"], row["lease"], row["dispatch_deadline"]) == \
        (0.5, 3600, 45, 10)
    assert row["target_url"] == "https://example.test/hook"
    run_cli("queue", "set", "mail", "--rate", "none", "--target-url", "none",
            "--concurrency-limit", "none", "--dsn", dsn)
    row = backend.queue_row("mail")
    assert (row["rate_limit"], row["target_url"], row["concurrency_limit"]) == (None, None, None)
    assert row["max_attempts"] == 7  # untouched
    listing = run_cli("queue", "ls", "--dsn", dsn).out
    assert "mail" in listing and "500ms..1h x8" in listing
    assert run_cli("queue", "pause", "mail", "--dsn", dsn).out.strip() == "queue mail paused"
    assert backend.queue_row("mail")["paused"]
    again = run_cli("queue", "pause", "mail", "--dsn", dsn)  # already paused: still found
    assert again.code == 0
    run_cli("queue", "resume", "mail", "--dsn", dsn)
    assert not backend.queue_row("mail")["paused"]
    missing = run_cli("queue", "resume", "nope", "--dsn", dsn)
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
def test_queue_set_refuses_bad_values_with_a_clear_message(run_cli, backend, args, message):
    result = run_cli("queue", "set", "mail", *args, "--dsn", backend.dsn)
    assert result.code == 2 and f"pgtask: {message}" in result.err
    assert "pgtask: pgtask:" not in result.err
    assert backend.rows("select name from pgtask.queues") == []  # refused as a whole


def test_queue_set_refuses_unparseable_values(run_cli, dsn):
    assert "invalid rate" in run_cli("queue", "set", "q", "--rate", "fast", "--dsn", dsn).err
    assert "invalid duration" in run_cli("queue", "set", "q", "--lease", "none", "--dsn", dsn).err
    assert "nothing to change" in run_cli("queue", "set", "q", "--dsn", dsn).err


def test_prune_asks_then_forgets_old_history(run_cli, backend):
    dsn = backend.dsn
    old, recent = backend.make("succeeded"), backend.make("dead")
    backend.age_history(old, 8 * 86400)
    assert "no finished tasks older than 30d" in run_cli("prune", "--older-than", "30d",
                                                         "--dsn", dsn).out
    asked = run_cli("prune", "--dsn", dsn)
    assert asked.code == 1 and "Delete 1 finished tasks older than 7d?" in asked.err
    assert "pruned 1 task(s)" in run_cli("prune", "--older-than", "7d", "-y", "--dsn", dsn).out
    assert set(backend.states_by_id()) == {recent}


def test_unstick_rescues_expired_leases(run_cli, backend):
    task = backend.make("running")
    backend.expire_lease(task)
    assert "rescued 1 task(s)" in run_cli("unstick", "--dsn", backend.dsn).out
    assert backend.states_by_id()[task] == ("default", "queued")
