"""Issue 15 (4, 8): the app answers only to its own names (DNS rebinding) and every response
carries the security headers; worker metrics need a token off loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import httpx
import pytest
from prometheus_client import CollectorRegistry

from pgtask.errors import ConfigError
from pgtask.web import create_app
from pgtask.web.auth import AuthConfig
from pgtask.worker.metrics import start_worker_metrics
from tests.support.waiting import wait_until

from .conftest import ADMIN_TOKEN, AUTH, LOOPBACK, TestClient, bearer, make

LOOPBACK_HOSTS = ["localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:8080", "127.3.4.5",
                  "[::1]", "[::1]:8080", "dash.localhost:8080", "LOCALHOST.", ]
REBOUND_HOSTS = ["evil.example", "evil.example:8080", "localhost.evil.example",
                 "127.0.0.1.nip.io", "10.0.0.5:8080", "[::2]", "", "a b", "[::1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- pure -------------------------------------------------------------------------------

def test_host_of():
    from pgtask.web.hardening import host_of

    assert host_of("Example.COM.:8080") == "example.com"
    assert host_of("[0:0::1]:80") == "::1"
    assert host_of("[zz::1]") is None and host_of("") is None and host_of(None) is None
    assert host_of("a:b:c") is None


def test_allowed_hosts_by_auth_and_bind():
    from pgtask.web.hardening import allowed_hosts, host_allowed

    off = allowed_hosts(False, "127.0.0.1")
    assert all(host_allowed(h, off) for h in LOOPBACK_HOSTS)
    assert not any(host_allowed(h, off) for h in REBOUND_HOSTS)
    assert allowed_hosts(True) is None and host_allowed("evil.example", None)
    bound = allowed_hosts(False, "192.168.1.7", ["dash.corp.example", "*.apps.example"])
    for host in ("192.168.1.7:8080", "dash.corp.example", "x.apps.example:443"):
        assert host_allowed(host, bound), host
    assert not host_allowed("apps.example", bound) and not host_allowed("evil.example", bound)
    assert allowed_hosts(False, "0.0.0.0") == allowed_hosts(False, "::") == allowed_hosts(False)
    restricted = allowed_hosts(True, "0.0.0.0", ["dash.example"])
    assert host_allowed("dash.example", restricted) and not host_allowed("x.example", restricted)
    assert allowed_hosts(False, None, ["*"]) is None


# --- through HTTP ------------------------------------------------------------------------

@pytest.mark.parametrize("host", REBOUND_HOSTS[:5])
def test_a_rebound_name_is_refused_without_auth(client, db, host):
    before = db.execute("select count(*) as n from pgtask.tasks").fetchone()["n"]
    page = client.get("/", headers={"Host": host})
    assert page.status_code == 421 and page.headers["content-type"].startswith("text/plain")
    assert "--allowed-host" in page.text and "csrf" not in page.text.lower()
    # The rebound page's own Origin equals its Host: the Origin rule alone let this in.
    origin = {"Host": host, "Origin": f"http://{host}"}
    r = client.post("/api/tasks", json={"type": "t.x"}, headers=origin)
    assert r.status_code == 421
    r = client.patch("/api/queues/default", json={"target_url": "http://169.254.169.254/"},
                     headers=origin)
    assert r.status_code == 421
    assert db.execute("select count(*) as n from pgtask.tasks").fetchone()["n"] == before


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_names_are_answered_without_auth(client, host):
    assert client.get("/api/tasks", headers={"Host": host}).status_code == 200


def test_names_given_and_auth(dsn):
    app = create_app(dsn, auth=AuthConfig(), insecure=True, allowed_hosts=["dash.example"],
                     bound="10.1.2.3")
    with TestClient(app, base_url="http://dash.example") as c:
        assert c.get("/api/tasks").status_code == 200
        assert c.get("/api/tasks", headers={"Host": "10.1.2.3:8080"}).status_code == 200
        assert c.get("/api/tasks", headers={"Host": "evil.example"}).status_code == 421
    with TestClient(create_app(dsn, auth=AUTH), base_url="http://any.example") as c:
        assert c.get("/api/tasks", headers=bearer(ADMIN_TOKEN)).status_code == 200
    app = create_app(dsn, auth=AUTH, allowed_hosts=["dash.example"])
    with TestClient(app, base_url="http://other.example") as c:
        assert c.get("/api/tasks", headers=bearer(ADMIN_TOKEN)).status_code == 421


EXPECTED = {"x-frame-options": "DENY", "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer"}


def check_headers(r: httpx.Response, cache: str = "no-store") -> None:
    for name, value in EXPECTED.items():
        assert r.headers.get(name) == value, (r.request.url, name)
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["cache-control"] == cache, r.request.url


def test_security_headers_on_every_kind_of_response(client, db):
    task = make(db, "dead")
    answers = {
        "html": client.get("/"), "fragment": client.get("/ui/live"),
        "task page": client.get(f"/tasks/{task}"), "json": client.get("/api/tasks"),
        "created": client.post("/api/tasks", json={"type": "t.x"}),
        "404": client.get("/api/tasks/987654"), "400": client.get("/api/tasks?state=x"),
        "405": client.delete("/api/tasks"), "415": client.post("/api/tasks", content=b"x"),
        "unknown path": client.get("/nope"), "metrics": client.get("/metrics"),
        "healthz": client.get("/healthz"), "openapi": client.get("/openapi.json"),
        "login": client.get("/login"), "421": client.get("/", headers={"Host": "evil.example"}),
    }
    assert [k for k, r in answers.items() if r.status_code >= 500] == []
    for r in answers.values():
        check_headers(r)
    check_headers(client.get("/static/dashboard.js"), cache="no-cache")
    check_headers(client.get("/static/nothing.css"), cache="no-cache")


def test_security_headers_on_a_500(dsn):
    app = create_app(dsn, auth=AuthConfig(), insecure=True)

    async def broken(request):
        raise RuntimeError("a bug")

    app.add_route("/broken", broken)  # a handler with a bug: the 500 comes from Starlette
    with TestClient(app, base_url=LOOPBACK, raise_server_exceptions=False) as c:
        r = c.get("/broken")
    assert r.status_code == 500 and "a bug" not in r.text
    check_headers(r)


def test_templates_need_no_inline_script_or_style(client, db):
    make(db, "dead")
    html = client.get("/").text
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert " onclick=" not in html and "javascript:" not in html


def test_serve_refuses_a_rebound_name(dsn):
    """A real `pgtask serve` (uvicorn): the bound address answers, another name is 421."""
    port = free_port()
    env = {**os.environ, "PGTASK_DSN": dsn}
    for name in ("PGTASK_WEB_TOKENS", "PGTASK_WEB_BASIC", "PGTASK_WEB_AUTH_FILE"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "pgtask", "serve", "--port", str(port),
                             "--allowed-host", "dash.example", "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), timeout=20, message="pgtask serve to answer")
        assert httpx.get(f"{url}/api/tasks").status_code == 200
        assert httpx.get(f"{url}/api/tasks", headers={"Host": "dash.example"}).status_code == 200
        r = httpx.get(f"{url}/", headers={"Host": "evil.example"})
        assert r.status_code == 421
        check_headers(r)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# --- worker metrics ---------------------------------------------------------------------

def test_worker_metrics_off_loopback_need_a_token(monkeypatch):
    monkeypatch.delenv("PGTASK_METRICS_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="PGTASK_METRICS_TOKEN"):
        start_worker_metrics(0, addr="0.0.0.0", registry=CollectorRegistry())
    with pytest.raises(ConfigError, match="16 characters"):
        start_worker_metrics(0, addr="0.0.0.0", registry=CollectorRegistry(), token="short")
    secret = "metrics-token-0123456789"
    metrics = start_worker_metrics(0, addr="0.0.0.0", registry=CollectorRegistry(),
                                   token=secret)
    try:
        url = f"http://127.0.0.1:{metrics.port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 401
        wrong = urllib.request.Request(url, headers={"Authorization": "Bearer nope"})
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(wrong, timeout=5)
        right = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
        with urllib.request.urlopen(right, timeout=5) as r:
            assert b"pgtask_worker_in_flight" in r.read()
    finally:
        metrics.close()


def test_worker_refuses_metrics_on_0_0_0_0_without_a_token(dsn):
    env = {k: v for k, v in os.environ.items() if k != "PGTASK_METRICS_TOKEN"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pgtask", "worker", "--dsn", dsn, "--metrics-port", "0",
             "--metrics-addr", "0.0.0.0"], env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker started serving metrics on 0.0.0.0 without a token")
    assert done.returncode == 2, done.stderr
    assert "refusing to serve worker metrics on 0.0.0.0" in done.stderr
