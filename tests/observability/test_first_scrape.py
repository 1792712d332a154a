"""The first scrape after start-up already carries every counter and histogram at 0, so that
rate() and increase() count a series' first event (a series born at 1 counts nothing)."""

from __future__ import annotations

import psycopg

from pgtask.web.metrics import Totals
from tests.support.waiting import wait_until
from tests.web.conftest import enqueue, finish

from .conftest import scrape

COUNTERS = ("enqueued", "succeeded", "failed", "dead", "cancelled")


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def test_serve_first_scrape_has_every_counter_at_zero(serve, db: psycopg.Connection):
    db.execute("insert into pgtask.queues (name) values ('mail'), ('idle')")
    for _ in range(3):
        enqueue(db, "mail.send", queue="mail")
    first = scrape(serve)  # nothing has finished yet
    for counter in COUNTERS:
        assert first[key(f"pgtask_tasks_{counter}_total", queue="mail", type="mail.send")] == 0
    for queue in ("mail", "idle"):  # an idle queue's histograms too
        for name in ("pgtask_pickup_latency_seconds", "pgtask_run_seconds"):
            assert first[key(f"{name}_bucket", queue=queue, le="+Inf")] == 0
            assert first[key(f"{name}_count", queue=queue)] == 0
            assert first[key(f"{name}_sum", queue=queue)] == 0

    later = enqueue(db, "mail.digest", queue="mail")  # a pair first seen after start-up
    finish(db, enqueue(db, "mail.send", queue="mail"), "succeeded")

    def moved():
        s = scrape(serve)
        done = s.get(key("pgtask_tasks_succeeded_total", queue="mail", type="mail.send"))
        return s if done == 1 else None

    s = wait_until(moved, timeout=15, interval=0.3, message="the success to be scraped")
    assert s[key("pgtask_tasks_dead_total", queue="mail", type="mail.send")] == 0
    # Seen enqueued: its other counters wait at 0 for its finish.
    assert s[key("pgtask_tasks_enqueued_total", queue="mail", type="mail.digest")] == 1
    assert s[key("pgtask_tasks_succeeded_total", queue="mail", type="mail.digest")] == 0
    assert later


def test_worker_first_scrape_has_every_counter_at_zero(worker_scrape):
    first = worker_scrape()  # the worker has run nothing
    for task_type in ("chaos.run", "chaos.sync", "chaos.slow"):  # tests/support/chaos.py
        for outcome in ("succeeded", "failed", "dead", "snoozed", "released", "lost"):
            assert first[key("pgtask_worker_outcomes_total", queue="default", type=task_type,
                             outcome=outcome)] == 0
        assert first[key("pgtask_worker_run_seconds_count", queue="default",
                         type=task_type)] == 0
    assert first[key("pgtask_worker_claimed_tasks_total", queue="default")] == 0
    assert first[key("pgtask_worker_pickup_latency_seconds_bucket", queue="default",
                     le="+Inf")] == 0


def test_totals_show_known_pairs_and_queues_at_zero():
    totals = Totals()
    totals.know(queues=["idle"], pairs=[("mail", "mail.send")])
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in totals.families() for s in family.samples}
    for counter in COUNTERS:
        assert samples[key(f"pgtask_tasks_{counter}_total", queue="mail", type="mail.send")] == 0
    for queue in ("mail", "idle"):
        assert samples[key("pgtask_run_seconds_count", queue=queue)] == 0
    assert not any(name == "pgtask_http_attempts_total" for name, _ in samples)
