"""pgtask_xmin_horizon_age_*: a transaction holding an xid shows, and goes after commit."""

from __future__ import annotations

import psycopg

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
