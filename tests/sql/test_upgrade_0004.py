"""A database at 0003, with an earlier roles script's grants, upgrades to 0004: pgtask_owner
loses what it no longer gets, and every grant on the replaced functions stays."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from pgtask.store.migrate import migrate

from .helpers import ROLES_0004, install_roles

ACL = """select p.oid::regprocedure::text as f, p.proacl::text as acl from pg_proc p
          where p.pronamespace = 'pgtask'::regnamespace and p.proname <> all(%s)"""
NEW = ["clock", "check_run_at", "is_too_deep", "is_run_at_in_range"]


def test_upgrade_from_0003_takes_back_the_owner_s_trigger_right(empty_dsn):
    assert migrate(empty_dsn, "0003").applied == ("0001", "0002", "0003")
    with psycopg.connect(empty_dsn, autocommit=True, row_factory=dict_row) as conn:
        install_roles(conn, ROLES_0004.read_text())
        conn.execute("grant all on all tables in schema pgtask to pgtask_owner")  # as 0003's did
        before = conn.execute(ACL, (NEW,)).fetchall()
        assert migrate(empty_dsn, "0004").applied == ("0004",)
        assert conn.execute(ACL, (NEW,)).fetchall() == before
        assert conn.execute("select has_table_privilege('pgtask_owner', 'pgtask.tasks', 'TRIGGER')"
                            " as t").fetchone()["t"] is False
        conn.execute("set role pgtask_worker")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select pgtask.rescue_tasks('infinity')")
