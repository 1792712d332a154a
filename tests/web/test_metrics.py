"""/metrics parses as Prometheus text, and its counters move as tasks run."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pgtask import Registry
from pgtask.web.metrics import BOUNDS, Totals
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until

from .conftest import enqueue, finish


def scrape(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[s.name, tuple(sorted(s.labels.items()))] = s.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_move_when_tasks_finish(client, db):
    first = scrape(client)  # counting starts here
    assert value(first, "pgtask_tasks_enqueued_total", queue="m", type="t.x") == 0
    ids = [enqueue(db, queue="m") for _ in range(6)]
    for task_id, state in zip(ids, ["succeeded", "succeeded", "succeeded", "dead", "failed",
                                    "cancelled"], strict=True):
        finish(db, task_id, state)
    db.execute("select pgtask.record_http_attempts(array[%s, %s]::bigint[], array[1, 1], "
               "array['0s', '0s']::interval[], array[200, null], array[12.5, 30000], "
               "array[null, 'timeout'], array['ok', null])", (ids[0], ids[1]))

    def settled():
        s = scrape(client)
        return s if value(s, "pgtask_tasks_cancelled_total", queue="m", type="t.x") == 1 else None

    s = wait_until(settled, timeout=15, interval=0.3, message="the finishes to be scraped")
    labels = {"queue": "m", "type": "t.x"}
    assert value(s, "pgtask_tasks_enqueued_total", **labels) == 6
    assert value(s, "pgtask_tasks_succeeded_total", **labels) == 3
    assert value(s, "pgtask_tasks_dead_total", **labels) == 1
    assert value(s, "pgtask_tasks_failed_total", **labels) == 2  # the dead one's and the retry's
    assert value(s, "pgtask_http_attempts_total", queue="m", status="200") == 1
    assert value(s, "pgtask_http_attempts_total", queue="m", status="none") == 1
    assert value(s, "pgtask_run_seconds_count", queue="m") == 4
    assert value(s, "pgtask_pickup_latency_seconds_bucket", queue="m", le="+Inf") == 4
    waiting = [value(s, "pgtask_queue_tasks", queue="m", state=st)
               for st in ("queued", "scheduled")]
    assert sum(waiting) == 1  # the failed one, in backoff or ready again
    again = scrape(client)  # nothing new: counters hold their values
    assert value(again, "pgtask_tasks_succeeded_total", **labels) == 3


def test_counters_move_when_a_worker_runs_tasks(client, dsn):
    registry = Registry()

    @registry.task("w.ok", queue="live")
    async def ok(task):
        return {"n": task.payload["n"]}

    scrape(client)
    for n in range(20):
        r = client.post("/api/tasks", json={"type": "w.ok", "queue": "live", "payload": {"n": n}})
        assert r.status_code == 201
    with running_worker(dsn, registry, concurrency=5) as worker:
        wait_until(lambda: value(scrape(client), "pgtask_tasks_succeeded_total",
                                 queue="live", type="w.ok") == 20,
                   timeout=20, interval=0.3, message="20 successes in /metrics")
        s = scrape(client)
        assert value(s, "pgtask_workers", status="alive") == 1
        assert worker is not None
    assert value(s, "pgtask_tasks_enqueued_total", queue="live", type="w.ok") == 20
    assert value(s, "pgtask_run_seconds_count", queue="live") == 20


def test_totals_bucket_arithmetic():
    totals = Totals(BOUNDS[:3])  # 0.005, 0.01, 0.025
    totals.add({"enqueued": [], "finished": [], "failed": [], "http": [], "durations": [
        {"kind": "run", "queue": "q", "bucket": 0, "n": 2, "total": 0.004},
        {"kind": "run", "queue": "q", "bucket": 3, "n": 1, "total": 7.0}]})
    family = next(f for f in totals.families() if f.name == "pgtask_run_seconds")
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert buckets == {"0.005": 2, "0.01": 2, "0.025": 2, "+Inf": 3}
    assert [s.value for s in family.samples if s.name.endswith("_sum")] == [7.004]
