"""pgtask top --once / --json against MariaDB with a live worker (tests/ops/test_top_cli.py)."""

import pytest

from pgtask.cli.top import Source
from pgtask.store.mysql.store import connect
from tests.ops.test_top_cli import _json, gate, registry  # noqa: F401 (fixtures)
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until

from .seed import enqueue, rows

pytestmark = pytest.mark.mysql


def test_top_once_and_json_with_a_live_worker(run_cli, mysql_dsn, conn, registry, gate):
    for _ in range(5):
        enqueue(conn, "fast", "ops.quick")
    with running_worker(mysql_dsn, registry, concurrency=2, queues=["fast", "slow"]) as worker:
        wait_until(lambda: rows(conn, "SELECT COUNT(*) AS n FROM pgtask_task_history "
                                      "WHERE queue = 'fast'")[0]["n"] == 5,
                   message="the quick tasks to finish")
        for _ in range(3):
            enqueue(conn, "slow", "ops.wait")
        snap = wait_until(lambda: (s := _json(run_cli, mysql_dsn))["queues"][1]["running"] == 2
                          and sum(s["queues"][0]["per_second"]) == 5 and s,
                          message="two slow tasks in flight and the quick ones counted")
        fast, slow = snap["queues"]
        assert (fast["name"], fast["queued"], fast["running"]) == ("fast", 0, 0)
        assert fast["completed"]["m1"] == pytest.approx(5 / 60)
        assert sum(fast["per_second"]) == 5 and fast["pickup"] is not None
        assert (slow["queued"], slow["running"]) == (1, 2)
        [row] = snap["workers"]
        assert row["id"] == worker.id and row["concurrency"] == 2
        assert set(row["queues"]) == {"fast", "slow"} and row["heartbeat_age"] < 30
        assert snap["health"]["available"] is True

        frame = run_cli("top", "--once", "--dsn", mysql_dsn)
        assert frame.code == 0, frame.err
        assert "pgtask top" in frame.out and "2 queues" in frame.out and "1 workers" in frame.out
        slow_row = next(line for line in frame.out.splitlines() if line.startswith("slow"))
        assert slow_row.split()[1:4] == ["1", "0", "2"]  # ready, scheduled, running
        assert worker.id.split(":")[0] in frame.out  # the host
        assert "STALE" not in frame.out and "InnoDB purge  history list length" in frame.out
        assert "NOTIFY        none on MySQL" in frame.out
        gate.set()


def test_top_warns_about_a_long_open_transaction(run_cli, mysql_dsn, conn):
    enqueue(conn)
    holder = connect(mysql_dsn)
    try:
        with holder.cursor() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            cur.execute("SELECT COUNT(*) FROM pgtask_tasks")
        warned = run_cli("top", "--once", "--dsn", mysql_dsn, "--xmin-warn-after", "0s")
        assert warned.code == 0, warned.err
        assert "oldest trx    ⚠ thread" in warned.out
        assert "InnoDB cannot purge the row versions it may still read" in warned.out
        patient = run_cli("top", "--once", "--dsn", mysql_dsn, "--xmin-warn-after", "1h")
        assert "⚠" not in patient.out and "oldest trx    ok (thread" in patient.out
    finally:
        holder.close()


def test_top_without_the_process_privilege_says_so(run_cli, mysql_dsn, conn):
    """An application account (no PROCESS) still gets its frame, with a note for InnoDB."""
    database = mysql_dsn.rsplit("/", 1)[1]
    user = "u" + database[-14:]
    rows(conn, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-s3cret'")  # names: ours, not input
    try:
        rows(conn, f"GRANT ALL ON {database}.* TO '{user}'@'%'")
        dsn = mysql_dsn.replace("root@", f"{user}:pw-s3cret@")
        snap = _json(run_cli, dsn)
        assert snap["health"] == {"available": False, "history_length": None,
                                  "oldest_transaction": None}
        frame = run_cli("top", "--once", "--dsn", dsn).out
        assert "needs the PROCESS privilege" in frame and "pw-s3cret" not in frame
    finally:
        rows(conn, f"DROP USER '{user}'@'%'")


def test_the_live_source_reconnects_after_losing_its_connection(mysql_dsn, conn):
    """A refresh on a killed connection is a ConnectionError (the live loop shows it and
    retries); the next refresh reconnects."""
    source = Source(mysql_dsn)
    try:
        source.take()
        rows(conn, "KILL %s", source._conn.thread_id())
        with pytest.raises(ConnectionError, match="MySQL connection lost"):
            source.take()
        assert source.take().queues == ()
    finally:
        source.close()
