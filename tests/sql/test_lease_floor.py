"""configure_queue refuses a lease the worker's heartbeat cannot keep, and says why.

The worker renews a lease every third of the shortest it holds and gives up on a database
call after 3 s: under 5 s, one slow renewal lets a live run's lease run out (issue 14).
"""

from __future__ import annotations

import re
from datetime import timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pgtask.resources import read_sql

from .helpers import set_queue

REASON = ("the worker renews a lease every third of it, and one renewal may take up to its "
          "3 s database deadline")


def configure(db, name: str, **settings) -> dict:
    return db.execute("select * from pgtask.configure_queue(%s, %s)",
                      (name, Jsonb(settings))).fetchone()


@pytest.mark.parametrize("lease, shown", [("3 seconds", "00:00:03"), ("4.5 s", "00:00:04.5"),
                                          ("4999 milliseconds", "00:00:04.999")])
def test_a_lease_below_5_seconds_is_refused_with_the_reason(db, lease, shown):
    message = f"pgtask: lease must be at least 5 seconds (got {shown}): {REASON}"
    with pytest.raises(psycopg.errors.CheckViolation) as info:
        configure(db, "q", lease=lease)
    assert info.value.diag.message_primary == message
    assert db.execute("select name from pgtask.queues where name = 'q'").fetchall() == []


def test_5_seconds_and_more_are_accepted(db):
    assert configure(db, "q", lease="5 seconds")["lease"] == timedelta(seconds=5)
    assert configure(db, "q", lease="2 minutes")["lease"] == timedelta(minutes=2)


def test_a_non_positive_lease_still_gets_the_positive_message(db):
    with pytest.raises(psycopg.errors.CheckViolation, match="must be positive"):
        configure(db, "q", lease="0 seconds")


def test_a_short_lease_set_directly_stays_and_other_settings_still_change(db):
    """No table constraint: an owner (and the fault tests) may set one by UPDATE; the floor
    applies to a lease being configured, not to every later change of that queue."""
    set_queue(db, "q", lease=timedelta(seconds=1))
    row = configure(db, "q", max_attempts=3)
    assert (row["max_attempts"], row["lease"]) == (3, timedelta(seconds=1))
    with pytest.raises(psycopg.errors.CheckViolation, match="at least 5 seconds"):
        configure(db, "q", lease="1 second")  # given again: held to the floor


def test_the_floor_is_queue_settings_min_lease(db):
    """One number: pgtask.queue_settings.MIN_LEASE (the MySQL store's check, the CLI help)
    is the floor and the words of pgtask.configure_queue."""
    from pgtask.queue_settings import MIN_LEASE, lease_too_short

    text = read_sql("postgres/pgtask.sql")
    body = text[text.index("function pgtask.configure_queue"):]
    body = body[:body.index("$$;")]
    assert re.findall(r"_q\.lease < interval '(\d+) seconds'", body) == [str(MIN_LEASE)]
    assert configure(db, "q", lease=f"{MIN_LEASE} seconds")["lease"] == \
        timedelta(seconds=MIN_LEASE)
    just_under = f"{MIN_LEASE - 1}.5 seconds"
    with pytest.raises(psycopg.errors.CheckViolation) as info:
        configure(db, "q", lease=just_under)
    got = f"00:00:{MIN_LEASE - 1:02d}.5"
    assert info.value.diag.message_primary == "pgtask: " + lease_too_short(got)
