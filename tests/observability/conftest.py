"""Fixtures for the observability tests: scrapes of a real `pgtask serve` app and of a real
`pgtask worker --metrics-port`, and the promtool this machine has (CI=true: it must)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

with warnings.catch_warnings():  # starlette suggests httpx2; httpx is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from pgtask.web import create_app
from pgtask.web.auth import AuthConfig
from tests.support.waiting import wait_until

CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
METRIC = re.compile(r"\bpgtask_[a-z_]+")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Prometheus text -> {(sample name, sorted labels): value}."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metric_names(expr: str) -> set[str]:
    """The pgtask metric names a PromQL expression reads (sample names: _total, _bucket...)."""
    return set(METRIC.findall(expr))


@pytest.fixture
def serve(dsn: str) -> Iterator[TestClient]:
    """`pgtask serve`'s app on this test's database (no credentials: loopback only)."""
    with TestClient(create_app(dsn, auth=AuthConfig(), insecure=True, refresh_seconds=0.2),
                    base_url="http://localhost") as client:
        yield client


def scrape(client: TestClient) -> Samples:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def worker_scrape(chaos_dsn: str, spawn_on):
    """Factory: start a real `pgtask worker --metrics-port` (chaos handlers) and return a
    function that scrapes it; the worker is stopped after the test."""
    port = free_port()
    spawn_on(chaos_dsn, "--metrics-port", str(port))
    url = f"http://127.0.0.1:{port}/metrics"

    def read() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return None

    wait_until(read, timeout=30, interval=0.2, message="the worker's /metrics to answer")
    return lambda: parse(read() or "")


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool is not installed (scripts/ensure-promtool.sh installs it)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return path
