"""Revision 0006 replaces enqueue_task and enqueue_tasks (a new last parameter needs a new
signature): every grant the old functions held moves to the new ones, PUBLIC gets none."""

from __future__ import annotations

import uuid

import psycopg

from pgtask.store.migrate import migrate

OLD = ("pgtask.enqueue_task(text, jsonb, text, timestamptz, integer, text, integer, text, jsonb,"
       " jsonb)", "pgtask.enqueue_tasks(text[], jsonb[], text[], timestamptz[], integer[], text[],"
       " integer[], text[], jsonb[], jsonb[])")
NEW = ("pgtask.enqueue_task(text, jsonb, text, timestamptz, integer, text, integer, text, jsonb,"
       " jsonb, jsonb)", "pgtask.enqueue_tasks(text[], jsonb[], text[], timestamptz[], integer[],"
       " text[], integer[], text[], jsonb[], jsonb[], jsonb[])")
CAN = "select has_function_privilege(%s, %s, 'EXECUTE')"


def test_upgrading_to_0006_keeps_every_grant_of_the_replaced_functions(empty_dsn):
    migrate(empty_dsn, "0005")
    role = f"Pgtask App {uuid.uuid4().hex[:8]}"  # a name that needs quoting, of this test's own
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("create role {} nologin").format(psycopg.sql.Identifier(role)))
        try:
            conn.execute(psycopg.sql.SQL("grant usage on schema pgtask to {}").format(
                psycopg.sql.Identifier(role)))
            for function in OLD:
                conn.execute(psycopg.sql.SQL("grant execute on function {} to {}").format(
                    psycopg.sql.SQL(function), psycopg.sql.Identifier(role)))
            assert migrate(empty_dsn).applied == ("0006",)
            for function in NEW:
                assert conn.execute(CAN, (role, function)).fetchone()[0] is True
                assert conn.execute(CAN, ("public", function)).fetchone()[0] is False
            conn.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(role)))
            assert conn.execute("select pgtask.enqueue_task('t.x')").fetchone()[0] > 0
        finally:
            conn.execute("reset role")
            conn.execute("drop owned by {0}; drop role {0}".replace(
                "{0}", psycopg.sql.Identifier(role).as_string(conn)))


OWNER = "select p.proowner::regrole::text from pg_proc p where p.oid = %s::regprocedure"


def test_upgrading_to_0006_as_another_role_keeps_the_functions_owner(empty_dsn):
    """The replaced functions are SECURITY DEFINER: migrated by a dedicated owner and
    upgraded by a superuser, the new ones must still run as that owner, like every other
    pgtask function (before: owned by whoever ran the upgrade)."""
    migrate(empty_dsn, "0005")
    owner = f"pgtask_owner_{uuid.uuid4().hex[:8]}"  # this test's own dedicated owner
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("create role {} nologin").format(
            psycopg.sql.Identifier(owner)))
        try:
            for function in OLD:
                conn.execute(psycopg.sql.SQL("alter function {} owner to {}").format(
                    psycopg.sql.SQL(function), psycopg.sql.Identifier(owner)))
            assert migrate(empty_dsn).applied == ("0006",)  # as the superuser
            for function in NEW:
                assert conn.execute(OWNER, (function,)).fetchone()[0] == owner
                assert conn.execute(CAN, ("public", function)).fetchone()[0] is False
        finally:
            conn.execute(psycopg.sql.SQL("drop owned by {0}; drop role {0}").format(
                psycopg.sql.Identifier(owner)))
