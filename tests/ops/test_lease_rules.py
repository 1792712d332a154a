"""Issue 14's two lease rules through the operator's surface, on either backend:
`queue set --lease` refuses a lease the worker's heartbeat cannot keep (with the reason),
and a worker silent for three of the longest leases (a minute at least) is forgotten."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pgtask.errors import ConfigError
from pgtask.models import WorkerInfo

from .backends import OpsBackend

REASON = ("the worker renews a lease every third of it, and one renewal may take up to its "
          "3 s database deadline")
# heartbeat_at of worker %s moved %s seconds into the past, in each backend's clock.
BACKDATE = {
    "postgres": "update pgtask.workers set heartbeat_at = now() - make_interval(secs => %s) "
                "where id = %s",
    "mysql": "update pgtask.workers set heartbeat_at = utc_timestamp(6) - interval %s second "
             "where id = %s",
}


@pytest.mark.parametrize("lease, shown", [("3s", "00:00:03"), ("4500ms", "00:00:04.5")])
def test_queue_set_refuses_a_lease_under_5_seconds(run_cli, backend, lease, shown):
    result = run_cli("queue", "set", "q", "--lease", lease, "--dsn", backend.dsn)
    assert result.code == 2, result
    assert f"pgtask: lease must be at least 5 seconds (got {shown}): {REASON}" in result.err
    assert backend.rows("select name from pgtask.queues") == []  # refused as a whole


def test_queue_set_accepts_5_seconds(run_cli, backend):
    result = run_cli("queue", "set", "q", "--lease", "5s", "--dsn", backend.dsn)
    assert result.code == 0, result.err
    assert backend.queue_row("q")["lease"] == 5


def test_the_operator_api_refuses_it_too_and_a_short_lease_set_by_hand_stays(backend):
    with pytest.raises(ConfigError) as info:
        backend.operator.configure_queue("q", {"lease": timedelta(seconds=3)})
    assert str(info.value) == f"lease must be at least 5 seconds (got 00:00:03): {REASON}"
    # No table constraint: an owner may still shorten one directly, and then change the
    # queue's other settings without being held to the floor.
    backend.operator.configure_queue("q", {"max_attempts": 4})
    backend.rows("update pgtask.queues set lease = %s where name = 'q'",
                 timedelta(seconds=1) if backend.name == "postgres" else 1)
    backend.operator.configure_queue("q", {"max_attempts": 3})
    row = backend.queue_row("q")
    assert (row["lease"], row["max_attempts"]) == (1, 3)


def _workers_after_unstick(run_cli, backend: OpsBackend, silences: dict[str, int]) -> set[str]:
    """Register one worker per entry, silent for that many seconds; `pgtask unstick`; the
    workers left."""
    store = backend.store
    for worker, seconds in silences.items():
        store.run(store.store.register_worker(WorkerInfo(worker, "host1", 4242, None, None, 4)))
        backend.rows(BACKDATE[backend.name], seconds, worker)
    result = run_cli("unstick", "--dsn", backend.dsn)
    assert result.code == 0, result.err
    return {r["id"] for r in backend.rows("select id from pgtask.workers")}


def test_with_short_leases_a_worker_silent_for_over_a_minute_is_forgotten(run_cli, backend):
    assert run_cli("queue", "set", "fast", "--lease", "10s", "--dsn", backend.dsn).code == 0
    assert [r["name"] for r in backend.rows("select name from pgtask.queues")] == ["fast"]
    left = _workers_after_unstick(run_cli, backend, {"fresh": 0, "quiet": 50, "silent": 70})
    assert left == {"fresh", "quiet"}


def test_the_longest_lease_sets_how_long_a_silent_worker_stays(run_cli, backend):
    assert run_cli("queue", "set", "slow", "--lease", "1m", "--dsn", backend.dsn).code == 0
    # 3 x 1 minute: a worker silent for 150 s is kept, one silent for 200 s is not.
    left = _workers_after_unstick(run_cli, backend, {"quiet": 150, "silent": 200, "gone": 700})
    assert left == {"quiet"}
