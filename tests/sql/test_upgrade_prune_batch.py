"""Revision 0006 adds pgtask.prune_batch: whoever could prune may prune in batches, and it
runs as prune's owner (SECURITY DEFINER), whoever runs the upgrade; PUBLIC gets nothing."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.sql import SQL, Identifier

from pgtask.store.migrate import migrate

PRUNE = "pgtask.prune(interval, timestamptz)"
PRUNE_BATCH = "pgtask.prune_batch(interval, integer, timestamptz)"
CAN = "select has_function_privilege(%s, %s, 'EXECUTE')"
OWNER = "select p.proowner::regrole::text from pg_proc p where p.oid = %s::regprocedure"


def test_upgrading_to_0006_gives_prune_batch_prunes_grants_and_owner(empty_dsn):
    migrate(empty_dsn, "0005")
    suffix = uuid.uuid4().hex[:8]
    pruner, owner = f"Pgtask Pruner {suffix}", f"pgtask_owner_{suffix}"  # this test's own
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        for role in (pruner, owner):
            conn.execute(SQL("create role {} nologin").format(Identifier(role)))
        try:
            conn.execute(SQL("grant usage on schema pgtask to {}").format(Identifier(pruner)))
            conn.execute(SQL("grant execute on function {} to {}").format(
                SQL(PRUNE), Identifier(pruner)))
            conn.execute(SQL("alter function {} owner to {}").format(SQL(PRUNE), Identifier(owner)))
            assert migrate(empty_dsn).applied == ("0006",)  # as the superuser
            assert conn.execute(OWNER, (PRUNE_BATCH,)).fetchone()[0] == owner
            assert conn.execute(CAN, (pruner, PRUNE_BATCH)).fetchone()[0] is True
            assert conn.execute(CAN, ("public", PRUNE_BATCH)).fetchone()[0] is False
        finally:
            for role in (pruner, owner):
                conn.execute(SQL("drop owned by {0}; drop role {0}").format(Identifier(role)))
