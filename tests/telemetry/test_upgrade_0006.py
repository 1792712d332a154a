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
