"""Every metric name the dashboard and the alert rules query exists in a real scrape: of
`pgtask serve`'s /metrics and of a real worker's --metrics-port."""

from __future__ import annotations

import psycopg

from tests.support.waiting import wait_until
from tests.web.conftest import enqueue, finish

from .conftest import metric_names, scrape
from .test_alert_rules import rules
from .test_dashboard import dashboard


def test_names_are_read_out_of_promql():
    expr = ('histogram_quantile(0.99, sum by (le) (rate(pgtask_pickup_latency_seconds_bucket'
            '{queue=~"$queue"}[$__rate_interval]))) / max(pgtask_workers{status="alive"})')
    assert metric_names(expr) == {"pgtask_pickup_latency_seconds_bucket", "pgtask_workers"}


def used() -> dict[str, set[str]]:
    """{where: metric names} for every expression of the dashboard and the rules."""
    out: dict[str, set[str]] = {}
    for p in dashboard()["panels"]:
        for t in p["targets"]:
            out.setdefault(f"panel {p['title']!r}", set()).update(metric_names(t["expr"]))
    for v in dashboard()["templating"]["list"]:
        out.setdefault(f"variable {v['name']}", set()).update(metric_names(v.get("definition", "")))
    for rule in rules():
        out[f"alert {rule['alert']}"] = metric_names(rule["expr"])
    return out


def test_every_metric_name_used_is_in_a_real_scrape(serve, db: psycopg.Connection,
                                                    worker_scrape):
    ids = [enqueue(db, "t.x", queue="m") for _ in range(2)]
    finish(db, ids[0], "succeeded")
    db.execute("select pgtask.record_http_attempts(array[%s]::bigint[], array[1], "
               "array['0s']::interval[], array[200], array[12.5], array[null], array['ok'])",
               (ids[0],))
    scrape(serve)
    # The HTTP attempt is counted when its task's finish leaves the one-second window.
    wait_until(lambda: any(name == "pgtask_http_attempts_total" for name, _ in scrape(serve)),
               timeout=10, interval=0.3, message="the HTTP attempt in /metrics")
    served = {name for name, _ in scrape(serve)} | {name for name, _ in worker_scrape()}
    missing = {where: names - served for where, names in used().items() if names - served}
    assert not missing, missing
    assert sum(map(len, used().values())) > 15
