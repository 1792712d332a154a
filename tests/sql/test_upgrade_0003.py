"""A database at 0002, with pgtask's roles installed, upgrades to 0003: the new bodies take
effect and every grant on the replaced functions stays (create or replace keeps them)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from pgtask.store.migrate import migrate

from .helpers import ROLES_0004

CHANGED = ("pgtask.rescue_tasks(timestamptz)", "pgtask.configure_queue(text,jsonb)")
ACL = "select proacl::text as acl from pg_proc where oid = %s::regprocedure"


def grants(conn) -> dict[str, str]:
    return {f: conn.execute(ACL, (f,)).fetchone()["acl"] for f in CHANGED}


def test_upgrade_from_0002_keeps_grants_and_applies_both_rules(empty_dsn):
    assert migrate(empty_dsn, "0002").applied == ("0001", "0002")
    with psycopg.connect(empty_dsn, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(ROLES_0004.read_text())  # the script of the time
        before = grants(conn)
        assert "pgtask_worker=X" in before["pgtask.rescue_tasks(timestamptz)"]
        conn.execute("select pgtask.register_worker('w', 'h', 1, null, null, 1, "
                     "now() - interval '70 seconds')")  # no queues yet: silent too long
        assert migrate(empty_dsn, "0003").applied == ("0003",)
        assert grants(conn) == before
        with pytest.raises(psycopg.errors.CheckViolation, match="at least 5 seconds"):
            conn.execute("select pgtask.configure_queue('q', '{\"lease\": \"3 seconds\"}')")
        conn.execute("set role pgtask_worker")  # the worker's maintenance, as that role
        conn.execute("select pgtask.rescue_tasks()")
        conn.execute("reset role")
        assert conn.execute("select count(*) as n from pgtask.workers").fetchone()["n"] == 0
