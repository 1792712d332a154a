"""Migrating as a dedicated owner that is not a superuser, and what pgtask_owner may not do.

pgtask's functions are SECURITY DEFINER: they run as whoever migrated. docs/security.md asks
for a dedicated, non-superuser owner; this proves that set-up works end to end, and that an
operator (pgtask_owner) cannot attach code of their own to pgtask's tables, which would run
as that owner inside the next enqueue_task.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from pgtask.resources import read_sql

PGTASK = Path(sys.executable).with_name("pgtask")
MAKE_ROLES = """
do $$
declare _role text;
begin
  foreach _role in array array['pgtask_app', 'pgtask_worker', 'pgtask_owner'] loop
    if not exists (select 1 from pg_roles where rolname = _role) then
      begin
        execute format('create role %I nologin', _role);
      exception when duplicate_object or unique_violation then null;
      end;
    end if;
  end loop;
end $$"""


@pytest.fixture
def migrator(empty_dsn):
    """A login role with CREATE on the empty database and nothing else; pgtask's roles exist
    (a superuser makes them once per cluster)."""
    name = "pgtask_mig_" + uuid.uuid4().hex[:12]
    dbname = psycopg.conninfo.conninfo_to_dict(empty_dsn)["dbname"]
    with psycopg.connect(empty_dsn, autocommit=True) as admin:
        admin.execute(MAKE_ROLES)
        admin.execute(sql.SQL("create role {} login nosuperuser nocreaterole nocreatedb").format(
            sql.Identifier(name)))
        admin.execute(sql.SQL("grant create on database {} to {}").format(
            sql.Identifier(str(dbname)), sql.Identifier(name)))
    yield empty_dsn + f" user={name}"
    with psycopg.connect(empty_dsn, autocommit=True) as admin:
        admin.execute("drop schema if exists pgtask cascade")
        admin.execute("drop function if exists public.spy() cascade")
        admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def test_a_non_superuser_owner_migrates_and_installs_the_roles(migrator, empty_dsn):
    env = {**os.environ, "PGTASK_DSN": migrator}
    done = subprocess.run([str(PGTASK), "migrate"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(migrator, autocommit=True, row_factory=dict_row) as owner:
        owner.execute(read_sql("postgres/roles.sql"))
        row = owner.execute(
            "select r.rolname, r.rolsuper from pg_proc p join pg_roles r on r.oid = p.proowner"
            " where p.oid = 'pgtask.enqueue_task(text, jsonb, text, timestamptz, integer, text,"
            " integer, text, jsonb, jsonb, jsonb)'::regprocedure").fetchone()
        assert row["rolname"] == psycopg.conninfo.conninfo_to_dict(migrator)["user"]
        assert row["rolsuper"] is False
    with psycopg.connect(empty_dsn, autocommit=True) as app:
        app.execute("set role pgtask_app")
        assert app.execute("select pgtask.enqueue_task('emails.send')").fetchone()[0] == 1


def test_pgtask_owner_cannot_attach_a_trigger_to_the_tasks_table(migrator, empty_dsn):
    env = {**os.environ, "PGTASK_DSN": migrator}
    subprocess.run([str(PGTASK), "migrate"], env=env, check=True, capture_output=True, timeout=120)
    with psycopg.connect(migrator, autocommit=True) as owner:
        owner.execute(read_sql("postgres/roles.sql"))
    with psycopg.connect(empty_dsn, autocommit=True) as admin:
        # A function the operator may call (made here by the superuser: PG 15 gives nobody
        # else CREATE on public), which would record who it runs as.
        admin.execute("create function public.spy() returns trigger language plpgsql as"
                      " $$ begin raise notice 'running as %', current_user; return new; end $$")
        admin.execute("grant execute on function public.spy() to pgtask_owner")
        admin.execute("set role pgtask_owner")
        for statement in ("create trigger spy before insert on pgtask.tasks for each row"
                          " execute function public.spy()",
                          "truncate pgtask.task_history",
                          "select setval('pgtask.task_id_seq', 1)",
                          "delete from pgtask.alembic_version"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                admin.execute(statement)
        admin.execute("update pgtask.queues set paused = true")  # rows, yes
