"""pgtask serve: refusing an exposed address without auth, and the worker metrics hooks."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from pgtask.cli.serve import bind_refusal
from pgtask.endpoints import is_loopback
from pgtask.worker.metrics import start_worker_metrics


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.8.9.1", True),
                                            ("::1", True), ("[::1]", True),
                                            ("localhost", True), ("0.0.0.0", False),
                                            ("::", False), ("10.0.0.5", False),
                                            ("example.com", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_bind_refusal():
    assert bind_refusal("127.0.0.1", auth_enabled=False, insecure=False) is None
    assert "refusing" in bind_refusal("0.0.0.0", auth_enabled=False, insecure=False)
    assert bind_refusal("0.0.0.0", auth_enabled=True, insecure=False) is None
    assert bind_refusal("0.0.0.0", auth_enabled=False, insecure=True) is None


def test_serve_refuses_an_exposed_address_without_auth(run_cli, monkeypatch, dsn):
    for name in ("PGTASK_WEB_TOKENS", "PGTASK_WEB_BASIC", "PGTASK_WEB_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    result = run_cli("serve", "--host", "0.0.0.0", "--dsn", dsn)
    assert result.code != 0 and "refusing to serve on 0.0.0.0" in result.err


def test_serve_refuses_an_unmigrated_database(run_cli, empty_dsn):
    result = run_cli("serve", "--dsn", empty_dsn, "--port", "0")
    assert result.code == 2 and "pgtask migrate" in result.err


def test_worker_metrics_hooks_and_endpoint():
    class FakeWorker:
        in_flight = 3

    registry = CollectorRegistry()
    metrics = start_worker_metrics(0, FakeWorker(), addr="127.0.0.1", registry=registry)
    try:
        metrics.observe_claim("emails", 0.02)
        metrics.observe_outcome("emails", "emails.send", "succeeded", 0.4)
        metrics.observe_outcome("emails", "emails.send", "failed", 1.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics.port}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        metrics.close()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    outcome = (("outcome", "succeeded"), ("queue", "emails"), ("type", "emails.send"))
    assert samples["pgtask_worker_outcomes_total", outcome] == 1
    assert samples["pgtask_worker_claimed_tasks_total", (("queue", "emails"),)] == 1
    assert samples["pgtask_worker_run_seconds_count",
                   (("queue", "emails"), ("type", "emails.send"))] == 2
    assert samples["pgtask_worker_in_flight", ()] == 3
