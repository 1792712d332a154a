"""pgtask ls / show / stats against a real database, on either backend."""

import json
from datetime import UTC, datetime

import pytest

from pgtask.models import LogLine
from pgtask.store.base import Capability

from .backends import OpsBackend


@pytest.fixture
def mixed(backend: OpsBackend):
    """Hot and history rows with interleaved ids: 4 of each state across two queues."""
    ids = []
    for i in range(4):
        for state in ("queued", "succeeded", "dead", "cancelled", "running"):
            ids.append(backend.make(state, queue="a" if i % 2 else "b",
                                    task_type="t.even" if i % 2 == 0 else "t.odd"))
    return ids


def _pages(run_cli, dsn, *filters, limit=3):
    seen, after, pages = [], 0, 0
    while True:
        result = run_cli("ls", "--dsn", dsn, "--json", "--limit", str(limit), "--after", str(after),
                         *filters)
        assert result.code == 0, result.err
        rows = [json.loads(line) for line in result.out.splitlines()]
        pages += 1
        if not rows:
            return seen, pages
        seen += rows
        after = rows[-1]["id"]


def test_ls_pages_return_every_task_exactly_once(run_cli, backend, mixed):
    rows, pages = _pages(run_cli, backend.dsn)
    assert [r["id"] for r in rows] == sorted(mixed)
    assert pages == len(mixed) // 3 + 1 + (1 if len(mixed) % 3 else 0)
    dead, _ = _pages(run_cli, backend.dsn, "--state", "dead", "--queue", "a", limit=1)
    assert [r["state"] for r in dead] == ["dead", "dead"] and {r["queue"] for r in dead} == {"a"}
    odd, _ = _pages(run_cli, backend.dsn, "--type", "t.odd", limit=4)
    assert len(odd) == 10 and {r["task_type"] for r in odd} == {"t.odd"}
    # The same fields on both backends, timestamps in ISO 8601 with their UTC offset.
    assert set(rows[0]) == {"id", "queue", "task_type", "state", "priority", "attempt", "run_at",
                            "created_at", "finished_at", "worker_id", "message"}
    assert datetime.fromisoformat(rows[0]["run_at"]).utcoffset().total_seconds() == 0


def test_ls_table_prints_the_next_cursor(run_cli, backend, mixed):
    result = run_cli("ls", "--dsn", backend.dsn, "--limit", "5")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0].split()[:4] == ["ID", "QUEUE", "TYPE", "STATE"]
    assert f"next page: --after {sorted(mixed)[4]}" in result.out
    last = run_cli("ls", "--dsn", backend.dsn, "--after", str(max(mixed)))
    assert "no tasks match" in last.out and "next page" not in last.out


def test_show_prints_fields_result_errors_and_logs(run_cli, backend):
    dsn = backend.dsn
    done = backend.make("succeeded")
    backend.rows("update pgtask.task_history set result = %s where id = %s", '{"sent": 3}', done)
    line = LogLine(done, 1, datetime.now(UTC), "info", "connecting to smtp")
    backend.store.run(backend.store.store.finish([], [line]))
    dead = backend.make("dead", queue="mail")
    out = run_cli("show", str(done), "--dsn", dsn).out
    assert "succeeded" in out and '"sent": 3' in out
    assert "log lines (1)" in out and "connecting to smtp" in out
    out = run_cli("show", str(dead), "--dsn", dsn).out
    assert "errors (1)" in out and "boom" in out and "mail" in out
    data = json.loads(run_cli("show", str(dead), "--dsn", dsn, "--json").out)
    assert data["task"]["state"] == "dead" and data["task"]["errors"][0]["error"] == "boom"
    assert data["task"]["payload"] == {}
    if Capability.HTTP_JOURNAL in backend.operator.capabilities:  # an empty journal section
        assert "HTTP attempts (0)" in out and data["http_attempts"] == []
    else:  # no journal, so no section at all
        assert "HTTP attempts" not in out and data["http_attempts"] is None
    missing = run_cli("show", "999999", "--dsn", dsn)
    assert missing.code == 1 and "no task 999999" in missing.err


def test_show_lists_http_attempts_when_the_table_exists(run_cli, pg_ops):
    """Postgres only: MySQL keeps no HTTP attempt journal (Capability.HTTP_JOURNAL)."""
    task = pg_ops.make("dead")
    present = pg_ops.rows("select to_regclass('pgtask.http_attempts') is not null as p")[0]
    if not present["p"]:  # another part of pgtask creates it; stand in for it here
        pg_ops.rows("create table pgtask.http_attempts (task_id bigint, attempt int, "
                    "at timestamptz, status int, latency_ms int, reason text, response text)")
    pg_ops.rows("insert into pgtask.http_attempts (task_id, attempt, at, status, latency_ms, "
                "reason, response) values (%s, 1, now(), 503, 120, 'retry', 'busy')", task)
    out = run_cli("show", str(task), "--dsn", pg_ops.dsn).out
    assert "HTTP attempts (1)" in out and "503" in out and "busy" in out
    pg_ops.rows("drop table pgtask.http_attempts cascade")
    assert "HTTP attempts" not in run_cli("show", str(task), "--dsn", pg_ops.dsn).out


def test_stats_counts_by_queue_and_state(run_cli, backend, mixed):
    data = json.loads(run_cli("stats", "--dsn", backend.dsn, "--json").out)
    assert data == {q: {s: 2 for s in ("queued", "running", "succeeded", "dead", "cancelled")}
                    for q in ("a", "b")}
    assert list(data["a"]) == sorted(data["a"])  # states in the same order on both backends
    table = run_cli("stats", "--dsn", backend.dsn).out
    footer = next(line for line in table.splitlines() if line.startswith("all"))
    assert "20" in footer
