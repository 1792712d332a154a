"""pgtask ls / show / stats against MariaDB (tests/ops/test_inspect_cli.py, on MySQL)."""

import json
from datetime import UTC, datetime

import pytest

from pgtask.models import LogLine
from pgtask.store.mysql.admin import transaction
from pgtask.store.mysql.tx import finish
from tests.ops.test_inspect_cli import _pages

from .seed import make, rows

pytestmark = pytest.mark.mysql


@pytest.fixture
def mixed(conn):
    """Hot and history rows with interleaved ids: 4 of each state across two queues."""
    ids = []
    for i in range(4):
        for state in ("queued", "succeeded", "dead", "cancelled", "running"):
            ids.append(make(conn, state, queue="a" if i % 2 else "b",
                            task_type="t.even" if i % 2 == 0 else "t.odd"))
    return ids


def test_ls_pages_return_every_task_exactly_once(run_cli, mysql_dsn, mixed):
    found, pages = _pages(run_cli, mysql_dsn)
    assert [r["id"] for r in found] == sorted(mixed)
    assert pages == len(mixed) // 3 + 1 + (1 if len(mixed) % 3 else 0)
    dead, _ = _pages(run_cli, mysql_dsn, "--state", "dead", "--queue", "a", limit=1)
    assert [r["state"] for r in dead] == ["dead", "dead"] and {r["queue"] for r in dead} == {"a"}
    odd, _ = _pages(run_cli, mysql_dsn, "--type", "t.odd", limit=4)
    assert len(odd) == 10 and {r["task_type"] for r in odd} == {"t.odd"}
    # The same fields as on Postgres, timestamps in ISO 8601 with their UTC offset.
    assert set(found[0]) == {"id", "queue", "task_type", "state", "priority", "attempt", "run_at",
                             "created_at", "finished_at", "worker_id", "message"}
    assert datetime.fromisoformat(found[0]["run_at"]).utcoffset().total_seconds() == 0


def test_ls_table_prints_the_next_cursor(run_cli, mysql_dsn, mixed):
    result = run_cli("ls", "--dsn", mysql_dsn, "--limit", "5")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0].split()[:4] == ["ID", "QUEUE", "TYPE", "STATE"]
    assert f"next page: --after {sorted(mixed)[4]}" in result.out
    last = run_cli("ls", "--dsn", mysql_dsn, "--after", str(max(mixed)))
    assert "no tasks match" in last.out and "next page" not in last.out


def test_show_prints_fields_result_errors_and_logs(run_cli, mysql_dsn, conn):
    done = make(conn, "succeeded")
    rows(conn, "UPDATE pgtask_task_history SET result = '{\"sent\": 3}' WHERE id = %s", done)
    line = LogLine(done, 1, datetime.now(UTC), "info", "connecting to smtp")
    transaction(conn, finish, [], [line])
    dead = make(conn, "dead", queue="mail")
    out = run_cli("show", str(done), "--dsn", mysql_dsn).out
    assert "succeeded" in out and '"sent": 3' in out
    assert "log lines (1)" in out and "connecting to smtp" in out
    out = run_cli("show", str(dead), "--dsn", mysql_dsn).out
    assert "errors (1)" in out and "boom" in out and "mail" in out and "HTTP attempts" not in out
    data = json.loads(run_cli("show", str(dead), "--dsn", mysql_dsn, "--json").out)
    assert data["task"]["state"] == "dead" and data["task"]["errors"][0]["error"] == "boom"
    assert data["task"]["payload"] == {} and data["http_attempts"] is None
    missing = run_cli("show", "999999", "--dsn", mysql_dsn)
    assert missing.code == 1 and "no task 999999" in missing.err


def test_stats_counts_by_queue_and_state(run_cli, mysql_dsn, mixed):
    data = json.loads(run_cli("stats", "--dsn", mysql_dsn, "--json").out)
    assert data == {q: {s: 2 for s in ("queued", "running", "succeeded", "dead", "cancelled")}
                    for q in ("a", "b")}
    assert list(data["a"]) == sorted(data["a"])  # states in the order Postgres gives
    table = run_cli("stats", "--dsn", mysql_dsn).out
    assert "all" in table and "20" in table.splitlines()[-1]
