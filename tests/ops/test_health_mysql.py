"""What only MySQL's health panel shows: the InnoDB purge backlog and the oldest open
transaction, or a note when the account may not see them (Postgres's: test_health_postgres.py)."""

import pytest

from pgtask.console.view import Thresholds
from pgtask.ops.health_mysql import MySQLHealth, OldestTransaction, mysql_health
from pgtask.ops.snapshot import Snapshot, from_rows
from pgtask.store.mysql.store import connect

from .fixtures import BUSY, frame
from .test_top_cli import _json


def _mysql_frame(health: MySQLHealth, **thresholds) -> str:
    snapshot = Snapshot(at=BUSY.at, queues=BUSY.queues, workers=BUSY.workers, health=health)
    return frame(snapshot, thresholds=Thresholds(**thresholds))


def test_mysql_health_lines_replace_the_postgres_ones():
    quiet = _mysql_frame(MySQLHealth(history_length=1234))
    assert "InnoDB purge  history list length 1,234" in quiet
    assert "oldest trx    none open" in quiet and "NOTIFY        none on MySQL" in quiet
    assert "xmin" not in quiet and "dead tuples" not in quiet
    assert "default" in quiet and "app-1" in quiet  # queue and worker panels as on Postgres


def test_a_long_transaction_is_a_warning_after_the_threshold():
    trx = OldestTransaction(42, 75.0, "RUNNING", "idle in transaction, app@10.0.0.5")
    health = MySQLHealth(history_length=5, oldest_transaction=trx)
    warned = _mysql_frame(health)
    assert ("oldest trx    ⚠ thread 42 (idle in transaction, app@10.0.0.5) open for 1m15s: "
            "InnoDB cannot purge") in warned
    assert "oldest trx    ok (thread 42" in _mysql_frame(health, xmin_seconds=120)


def test_no_privilege_is_a_note_not_an_error():
    text = _mysql_frame(MySQLHealth(available=False))
    assert "not shown: reading information_schema.INNODB_TRX needs the PROCESS privilege" in text
    assert "InnoDB purge" not in text


def test_mysql_health_from_its_row():
    row = {"available": True, "history_length": 9,
           "oldest_transaction": {"thread_id": 7, "seconds": 1.5, "state": "RUNNING",
                                  "detail": None}}
    assert mysql_health(row) == MySQLHealth(True, 9, OldestTransaction(7, 1.5, "RUNNING", ""))
    empty = {"available": False, "history_length": None, "oldest_transaction": None}
    assert mysql_health(empty) == MySQLHealth(available=False)


# -- on a server ----------------------------------------------------------------------------


@pytest.mark.mysql
def test_the_oldest_open_transaction_is_reported(mysql_ops):
    holder = connect(mysql_ops.dsn)
    try:
        with holder.cursor() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            cur.execute("SELECT COUNT(*) FROM pgtask_tasks")
            thread = holder.thread_id()
        health = from_rows(mysql_ops.operator.top_rows()).health
        oldest = health.oldest_transaction
        assert oldest is not None and oldest.seconds >= 0
        assert health.history_length is not None and health.history_length >= 0
        if oldest.thread_id != thread:  # the server is shared: another session began earlier
            assert oldest.seconds >= 0
            return
        assert oldest.detail.startswith("idle in transaction, root@")
    finally:
        holder.close()


@pytest.mark.mysql
def test_top_warns_about_a_long_open_transaction(run_cli, mysql_ops):
    dsn = mysql_ops.dsn
    mysql_ops.enqueue()
    holder = connect(dsn)
    try:
        with holder.cursor() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            cur.execute("SELECT COUNT(*) FROM pgtask_tasks")
        warned = run_cli("top", "--once", "--dsn", dsn, "--xmin-warn-after", "0s")
        assert warned.code == 0, warned.err
        assert "oldest trx    ⚠ thread" in warned.out
        assert "InnoDB cannot purge the row versions it may still read" in warned.out
        patient = run_cli("top", "--once", "--dsn", dsn, "--xmin-warn-after", "1h")
        assert "⚠" not in patient.out and "oldest trx    ok (thread" in patient.out
    finally:
        holder.close()


@pytest.mark.mysql
def test_top_without_the_process_privilege_says_so(run_cli, mysql_ops):
    """An application account (no PROCESS) still gets its frame, with a note for InnoDB."""
    database = mysql_ops.dsn.rsplit("/", 1)[1]
    user = "u" + database[-14:]
    mysql_ops.rows(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-s3cret'")  # names: ours
    try:
        mysql_ops.rows(f"GRANT ALL ON {database}.* TO '{user}'@'%'")
        dsn = mysql_ops.dsn.replace("root@", f"{user}:pw-s3cret@")
        snap = _json(run_cli, dsn)
        assert snap["health"] == {"available": False, "history_length": None,
                                  "oldest_transaction": None}
        printed = run_cli("top", "--once", "--dsn", dsn).out
        assert "needs the PROCESS privilege" in printed and "pw-s3cret" not in printed
    finally:
        mysql_ops.rows(f"DROP USER '{user}'@'%'")
