"""Auth: parsing credentials, roles, the CSRF rule, and every rule enforced by the app."""

from __future__ import annotations

import base64
import logging

import pytest

from pgtask.errors import ConfigError
from pgtask.web import auth

from .conftest import ADMIN_TOKEN, ALICE_PW, AUTH, BOB_PW, READ_TOKEN, basic_header, bearer, make

T1, T2 = "T1-sixteen-chars", "T2-sixteen-chars"

# --- pure -------------------------------------------------------------------------------

def test_load_from_env_and_file(tmp_path):
    path = tmp_path / "auth"
    path.write_text("# comment\n\ntoken read FILETOKEN-16-chars\nbasic admin carol p:w-12-chars\n")
    config = auth.load({"PGTASK_WEB_TOKENS": f"admin:{T1}, read:{T2}",
                        "PGTASK_WEB_BASIC": "alice:pa:ss-12-chars:admin"}, file=str(path))
    assert [(c.kind, c.role, c.name) for c in config.credentials] == [
        ("token", "admin", ""), ("token", "read", ""), ("basic", "admin", "alice"),
        ("token", "read", ""), ("basic", "admin", "carol")]
    assert auth.authenticate(config, f"Bearer {T1}") == ("admin", "bearer")
    assert auth.authenticate(config, "Bearer FILETOKEN-16-chars") == ("read", "bearer")
    assert auth.load({}).enabled is False


@pytest.mark.parametrize("env, text", [
    ({"PGTASK_WEB_TOKENS": "admin"}, "role:token"),
    ({"PGTASK_WEB_TOKENS": "root:abc"}, "role must be"),
    ({"PGTASK_WEB_TOKENS": "admin:"}, "empty"),
    ({"PGTASK_WEB_BASIC": "alice:pw"}, "user:password:role"),
    ({"PGTASK_WEB_BASIC": "alice:pw-abc-12-chars:root"}, "role must be"),
    ({"PGTASK_WEB_BASIC": ":pw:admin"}, "user:password:role"),
    ({"PGTASK_WEB_AUTH_FILE": "/nonexistent/pgtask-auth"}, "cannot read"),
])
def test_bad_credentials_config_is_refused_without_echoing_secrets(env, text):
    with pytest.raises(ConfigError) as caught:
        auth.load(env)
    assert text in str(caught.value)
    assert "abc" not in str(caught.value)


def test_credentials_never_show_their_secret():
    config = auth.load({"PGTASK_WEB_TOKENS": "admin:SUPERSECRET-16-chars",
                        "PGTASK_WEB_BASIC": "u:SUPERSECRET2-12:read"})
    assert "SUPERSECRET" not in repr(config)


@pytest.mark.parametrize("header, expected", [
    (None, (None, None)), ("Bearer nope", (None, "bearer")), ("Basic !!!", (None, "basic")),
    ("Basic " + base64.b64encode(f"bob:{BOB_PW}".encode()).decode(), ("read", "basic")),
    ("Token x", (None, None)),
])
def test_authenticate(header, expected):
    assert auth.authenticate(AUTH, header) == expected


def test_csrf_rule():
    ok = {"origin": "http://h:1", "cookie": "x", "x-csrf-token": "abc"}
    cookies = {"pgtask_csrf": "abc"}
    assert auth.csrf_ok("POST", ok, "cookie", cookies, "h:1")
    assert auth.csrf_ok("GET", {"origin": "http://evil"}, "cookie", {}, "h:1")
    assert auth.csrf_ok("POST", {"origin": "http://evil"}, "bearer", {}, "h:1")
    assert auth.csrf_ok("POST", {}, "basic", {}, "h:1")  # curl: no browser headers
    assert not auth.csrf_ok("POST", {**ok, "origin": "http://evil"}, "cookie", cookies, "h:1")
    assert not auth.csrf_ok("POST", {**ok, "origin": "null"}, "cookie", cookies, "h:1")
    assert not auth.csrf_ok("POST", {**ok, "origin": "http://[::1"}, "open", cookies, "h:1")
    assert not auth.csrf_ok("POST", {**ok, "x-csrf-token": "abd"}, "basic", cookies, "h:1")
    assert not auth.csrf_ok("POST", {**ok, "sec-fetch-site": "cross-site"}, "open", cookies, "h:1")
    assert not auth.csrf_ok("POST", {"cookie": "x"}, "open", {}, "h:1")


# --- enforced by the app ---------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/tasks", "/api/queues", "/api/workers", "/metrics",
                                  "/openapi.json", "/api/tasks/1"])
def test_reads_need_a_credential(secured, path):
    r = secured.get(path)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert "Bearer" in r.headers["www-authenticate"] and "Basic" in r.headers["www-authenticate"]
    assert secured.get(path, headers=bearer(READ_TOKEN)).status_code in (200, 404)
    assert secured.get(path, headers=basic_header("bob", BOB_PW)).status_code in (200, 404)


def test_wrong_credentials_are_401(secured):
    for headers in (bearer("guess"), basic_header("bob", "wrong"), basic_header("eve", "x"),
                    {"Authorization": "Basic"}):
        r = secured.get("/api/tasks", headers=headers)
        assert r.status_code == 401, headers


def test_healthz_and_static_are_public(secured):
    assert secured.get("/healthz").status_code == 200
    assert secured.get("/static/dashboard.js").status_code == 200


def test_mutations_need_admin(secured, db):
    dead = make(db, "dead")
    for headers in (bearer(READ_TOKEN), basic_header("bob", BOB_PW)):
        assert secured.post("/api/tasks", json={"type": "t.x"}, headers=headers).status_code == 403
        assert secured.post(f"/api/tasks/{dead}/retry", headers=headers).status_code == 403
        assert secured.patch("/api/queues/default", json={"paused": True},
                             headers=headers).status_code == 403
    assert secured.post("/api/tasks", json={"type": "t.x"},
                        headers=bearer(ADMIN_TOKEN)).status_code == 201
    assert secured.post(f"/api/tasks/{dead}/retry",
                        headers=basic_header("alice", ALICE_PW)).status_code == 200


def test_basic_auth_from_a_browser_needs_the_csrf_token(secured, db):
    """Basic credentials are ambient in a browser: a cross-site form could use them."""
    dead = make(db, "dead")
    alice = basic_header("alice", ALICE_PW)
    page = secured.get("/", headers=alice)
    token = page.cookies["pgtask_csrf"]
    assert f'content="{token}"' in page.text
    forged = secured.post(f"/api/tasks/{dead}/retry",
                          headers={**alice, "Origin": "http://evil.example"})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf"
    no_token = secured.post(f"/api/tasks/{dead}/retry", headers={**alice, "Origin": "http://testserver"})
    assert no_token.status_code == 403
    good = secured.post(f"/api/tasks/{dead}/retry",
                        headers={**alice, "Origin": "http://testserver", "X-CSRF-Token": token})
    assert good.status_code == 200


def test_no_auth_mode_still_refuses_cross_site_mutations(client, db):
    dead = make(db, "dead")
    r = client.post(f"/api/tasks/{dead}/retry", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert client.post(f"/api/tasks/{dead}/retry").status_code == 200  # curl-like


def test_login_sets_a_session_cookie(secured, caplog):
    caplog.set_level(logging.DEBUG)
    page = secured.get("/")
    assert page.status_code == 401 and "API token" in page.text
    csrf = page.cookies["pgtask_csrf"]
    bad = secured.post("/login", data={"token": "guess", "csrf": csrf})
    assert bad.status_code == 401
    forged = secured.post("/login", data={"token": ADMIN_TOKEN, "csrf": "other"})
    assert forged.status_code == 403
    r = secured.post("/login", data={"token": READ_TOKEN, "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert secured.get("/").status_code == 200
    assert secured.get("/api/queues").status_code == 200  # the cookie works for reads
    r = secured.post("/api/tasks", json={"type": "t.x"},
                     headers={"X-CSRF-Token": csrf, "Origin": "http://testserver"})
    assert r.status_code == 403  # read role
    assert ADMIN_TOKEN not in caplog.text and READ_TOKEN not in caplog.text
