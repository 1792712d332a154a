"""What only Postgres's health panel shows: the NOTIFY trigger and queue, and who holds the
xmin horizon (MySQL's lines: test_health_mysql.py)."""

import psycopg
import pytest

from pgtask.ops.snapshot import from_rows

from .backends import PostgresOps
from .snapshot_seed import seed_postgres


@pytest.fixture
def seeded(pg_ops: PostgresOps) -> PostgresOps:
    seed_postgres(pg_ops)
    return pg_ops


def test_health_sees_the_hot_table_and_notify(seeded):
    health = from_rows(seeded.operator.top_rows()).health
    assert health.notify_trigger is True and health.notify_queue_usage == 0
    seeded.rows("alter table pgtask.tasks disable trigger tasks_notify")
    assert from_rows(seeded.operator.top_rows()).health.notify_trigger is False


def test_xmin_holder_is_the_open_repeatable_read_transaction(seeded):
    assert from_rows(seeded.operator.top_rows()).health.xmin_holders == ()
    with psycopg.connect(seeded.dsn) as holder:
        holder.execute("set transaction isolation level repeatable read")
        holder.execute("select count(*) from pgtask.tasks")
        holders = from_rows(seeded.operator.top_rows()).health.xmin_holders
        pid = str(holder.info.backend_pid)
        assert [(h.kind, h.name) for h in holders] == [("transaction", pid)]
        assert "idle in transaction" in holders[0].detail
        assert holders[0].seconds >= 0


def test_xmin_holder_includes_an_idle_writer_without_a_snapshot(seeded):
    """A read-committed transaction that wrote and went idle keeps an xid but no snapshot:
    vacuum still cannot pass it, so it is a holder."""
    with psycopg.connect(seeded.dsn) as writer:
        writer.execute("select pg_current_xact_id()")
        holders = from_rows(seeded.operator.top_rows()).health.xmin_holders
        assert [(h.kind, h.name) for h in holders] == [
            ("transaction", str(writer.info.backend_pid))]
        assert holders[0].xmin_age is not None and holders[0].xmin_age >= 0


def test_top_warns_about_a_transaction_holding_the_xmin_horizon(run_cli, pg_ops):
    dsn = pg_ops.dsn
    pg_ops.enqueue()
    quiet = run_cli("top", "--once", "--dsn", dsn, "--xmin-warn-after", "0s")
    assert "xmin horizon  ok" in quiet.out
    with psycopg.connect(dsn) as holder:
        holder.execute("set transaction isolation level repeatable read")
        holder.execute("select count(*) from pgtask.tasks")
        pid = holder.info.backend_pid
        warned = run_cli("top", "--once", "--dsn", dsn, "--xmin-warn-after", "0s")
        assert f"⚠ pid {pid} (idle in transaction" in warned.out
        assert "vacuum cannot clean pgtask.tasks" in warned.out
        patient = run_cli("top", "--once", "--dsn", dsn)  # the default waits 60 s to warn
        assert "⚠" not in patient.out and f"oldest: pid {pid}" in patient.out
