"""pgtask_xmin_horizon_age_*: a transaction holding an xid shows, and goes after commit."""

from __future__ import annotations

import psycopg
from psycopg import sql

from tests.support.waiting import wait_until

from .conftest import scrape

SECONDS, XIDS = ("pgtask_xmin_horizon_age_seconds", ()), ("pgtask_xmin_horizon_age_xids", ())


def test_xmin_horizon_age_grows_while_a_transaction_is_open(serve, dsn: str):
    with psycopg.connect(dsn) as holder:  # not autocommit: the transaction stays open
        # An idle-in-transaction writer: it has an xid but no snapshot (backend_xmin null),
        # and still holds the horizon back.
        holder.execute("select pg_current_xact_id()")
        first = scrape(serve)  # the first scrape reads it too
        assert first[SECONDS] > 0 and first[XIDS] >= 1
        grown = wait_until(lambda: (s := scrape(serve))[SECONDS] > first[SECONDS] and s,
                           timeout=10, interval=0.1, message="the age to grow")
        assert grown[XIDS] >= 1
        holder.commit()
        wait_until(lambda: (s := scrape(serve))[SECONDS] == 0 and s[XIDS] == 0, timeout=10,
                   interval=0.1, message="the ages to drop to 0 after commit")


SHADOW = """
create schema shadow;
-- pg_stat_activity as a busy server shows it: what each kind of backend looks like there.
create view shadow.pg_stat_activity as
select b.*, 'active'::text as state, ''::text as application_name from (values
  -- a lazy autovacuum of a big table: open an hour, its snapshot holds back no one
  (1, current_database(), 'autovacuum worker', {old}::text::xid, null::xid,
   now() - interval '1 hour'),
  -- a logical walsender decoding this database: its slot's xmin is what counts
  (2, current_database(), 'walsender', {old}::text::xid, null::xid, now() - interval '1 hour'),
  -- a transaction in another database holds back that database's horizon, not ours
  (3, 'elsewhere', 'client backend', {old}::text::xid, null::xid, now() - interval '1 hour'),
  -- a physical walsender with a standby's hot_standby_feedback
  (4, null, 'walsender', {near}::text::xid, null::xid, null::timestamptz),
  -- an idle-in-transaction writer of this database, five minutes in
  (5, current_database(), 'client backend', null::xid, {near}::text::xid,
   now() - interval '5 minutes')
) b(pid, datname, backend_type, backend_xmin, backend_xid, xact_start);
create view shadow.pg_prepared_xacts as
select null::xid as transaction, null::timestamptz as prepared, null::name as database
 where false;
create view shadow.pg_replication_slots as select null::xid as xmin where false;
"""


def test_the_horizon_leaves_out_autovacuum_logical_walsenders_and_other_databases(db):
    """XMIN counts what holds back pgtask.tasks' dead rows, as Postgres's own horizon does:
    the rows of pg_stat_activity it must leave out would raise a false alert (a long
    autovacuum, a logical replication's walsender, another database's transaction)."""
    from pgtask.store.postgres.metrics import XMIN

    current = db.execute("select txid_current() % 4294967296 as xid").fetchone()["xid"]
    old = current // 2  # initdb alone runs hundreds of transactions: far more than 10 back
    assert current - old > 100, current
    db.execute(sql.SQL(SHADOW).format(old=old, near=current - 10))  # DDL takes no parameters
    db.execute("set search_path = shadow, pg_catalog")  # shadow's views before the catalog's
    row = db.execute(XMIN).fetchone()
    assert 300 <= row["seconds"] < 3600  # the idle writer's five minutes, not the others' hour
    assert 10 <= row["xids"] < current - old  # the physical walsender's and writer's 10-odd
