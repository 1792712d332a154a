"""Migrations build exactly the schema file's database, once, however many run at once."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from pgtask.resources import read_sql
from pgtask.store.migrate import current_revision, head_revision, migrate

PGTASK = Path(sys.executable).with_name("pgtask")
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006")
# sha256 of each released migration file.
FROZEN = {
    "0001_initial.sql": "df7b48c0c2c11a890eba9a2016219560c2bee6f351bcf41c83c9d986316be45d",
    "0002_hot_path.sql": "5e06097c660fb3981876f957e037acb465c11a50647d119ee8d99337d775176d",
    "0003_worker_faults.sql": "5411b942bbba345be813ed2dc30b588b21da32da3644e1680fdaffb2510bfe7e",
    "0004_security.sql": "f5804ae7179f1bc17c88164f85beac736fc6a7c62ea4daa3b7c261fa00a1e5a6",
    "0005_features.sql": "a87946d97116bc2626b340cb9af0897a6be991a545d8743914c6b1f4f258159e",
}

# Everything that defines the schema, read from the catalog; alembic's table aside.
CATALOG = {
    "columns": """
        select c.relname, c.relkind, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, pg_get_expr(d.adbin, d.adrelid), c.relacl::text
          from pg_class c join pg_attribute a on a.attrelid = c.oid
          left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
         where c.relnamespace = 'pgtask'::regnamespace and c.relkind in ('r', 'v', 'p')
           and a.attnum > 0 and not a.attisdropped and c.relname <> 'alembic_version'""",
    "constraints": """
        select conrelid::regclass::text, conname, pg_get_constraintdef(oid)
          from pg_constraint
         where connamespace = 'pgtask'::regnamespace
           and conrelid <> coalesce(to_regclass('pgtask.alembic_version'), 0)""",
    "indexes": """
        select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
          from pg_index i join pg_class c on c.oid = i.indrelid
         where c.relnamespace = 'pgtask'::regnamespace and c.relname <> 'alembic_version'""",
    "functions": """
        select p.oid::regprocedure::text, pg_get_functiondef(p.oid), p.prosecdef,
               p.proconfig, p.proacl::text
          from pg_proc p where p.pronamespace = 'pgtask'::regnamespace""",
    "triggers": """
        select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid)
          from pg_trigger
         where not tgisinternal
           and tgrelid in (select oid from pg_class where relnamespace = 'pgtask'::regnamespace)""",
    "views": """
        select viewname, definition from pg_views where schemaname = 'pgtask'""",
    "enums": """
        select t.typname, e.enumsortorder, e.enumlabel
          from pg_enum e join pg_type t on t.oid = e.enumtypid
         where t.typnamespace = 'pgtask'::regnamespace""",
    "sequences": """
        select s.seqrelid::regclass::text, format_type(s.seqtypid, null), s.seqstart,
               s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle
          from pg_sequence s join pg_class c on c.oid = s.seqrelid
         where c.relnamespace = 'pgtask'::regnamespace""",
    "schema": """
        select nspname, nspacl::text from pg_namespace where nspname = 'pgtask'""",
}


def catalog(dsn: str) -> dict[str, list[tuple]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {name: sorted(conn.execute(query).fetchall(), key=repr)
                for name, query in CATALOG.items()}


def built_from_schema_file(dsn: str) -> str:
    """`dsn` (any pgtask database) rebuilt by executing sql/postgres/pgtask.sql alone."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("drop schema pgtask cascade")
        conn.execute(read_sql("postgres/pgtask.sql"))
    return dsn


def test_migrations_build_the_schema_file(empty_dsn, dsn):
    report = migrate(empty_dsn)
    assert (report.before, report.after, report.applied) == (None, head_revision(), REVISIONS)
    migrated, expected = catalog(empty_dsn), catalog(built_from_schema_file(dsn))
    for part in CATALOG:
        assert migrated[part] == expected[part], f"{part} differ"
    assert len(expected["functions"]) >= 20 and len(expected["indexes"]) >= 8


def test_released_migrations_stay_frozen():
    """A released revision's file never changes: databases already ran it. Change the schema
    in pgtask.sql plus a new revision, which the test above checks against it."""
    for name, digest in FROZEN.items():
        text = read_sql(f"postgres/migrations/{name}").encode()
        assert hashlib.sha256(text).hexdigest() == digest, f"{name} was edited after release"


def test_migrate_is_idempotent(empty_dsn):
    first = migrate(empty_dsn)
    second = migrate(empty_dsn)
    assert first.applied and not second.applied
    assert second.before == second.after == head_revision()
    assert "up to date" in second.describe()
    assert current_revision(empty_dsn) == head_revision()


def test_migrate_of_an_unreachable_database_says_so_without_the_password():
    from pgtask.errors import ConfigError

    dsn = "postgresql://pgtask:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(ConfigError, match="cannot connect") as info:
        migrate(dsn)
    assert "s3cret" not in str(info.value)


def run_cli_migrate(dsn: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(PGTASK), "migrate", "--dsn", dsn], capture_output=True,
                          text=True, timeout=120)


def test_four_concurrent_migrations_apply_once(empty_dsn, dsn):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run_cli_migrate, [empty_dsn] * 4))
    for result in results:
        assert result.returncode == 0, result.stderr
    outputs = [r.stdout for r in results]
    migrated = f"migrated from nothing to {head_revision()}"
    assert sum(migrated in out for out in outputs) == 1, outputs
    assert sum("up to date" in out for out in outputs) == 3, outputs
    with psycopg.connect(empty_dsn) as conn:
        versions = conn.execute("select version_num from pgtask.alembic_version").fetchall()
    assert versions == [(head_revision(),)]
    assert catalog(empty_dsn) == catalog(built_from_schema_file(dsn))


def test_a_database_at_0001_upgrades_with_its_tasks_in_place(empty_dsn):
    assert migrate(empty_dsn, "0001").applied == ("0001",)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("select pgtask.enqueue_tasks(array_fill('t'::text, array[5]))")
        [held] = conn.execute("select id, lease_token from pgtask.claim_task(null, 'w', 1)")
        report = migrate(empty_dsn)
        assert report.applied == REVISIONS[1:] and report.after == head_revision()
        # A lease taken before the upgrade is still honoured, and the rest can be claimed.
        assert conn.execute("select pgtask.complete_task(%s, %s)", held).fetchone()[0]
        assert len(conn.execute("select * from pgtask.claim_task(null, 'w', 10)").fetchall()) == 4
