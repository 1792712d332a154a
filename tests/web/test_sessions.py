"""Issue 15 (8): a dashboard session is not the token, expires and ends with logout; failed
sign-ins lock a client out (429, even for the right token); short credentials are refused
at start-up."""

from __future__ import annotations

import pytest

from pgtask.errors import ConfigError
from pgtask.web import auth, create_app
from tests.support.waiting import wait_until

from .conftest import ADMIN_TOKEN, AUTH, BOB_PW, READ_TOKEN, TestClient, basic_header, bearer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- pure -------------------------------------------------------------------------------

def test_sessions_expire_and_end():
    from pgtask.web.sessions import Sessions

    clock = Clock()
    sessions = Sessions(ttl=60, clock=clock)
    first, second = sessions.create("admin"), sessions.create("read")
    assert first != second and len(first) >= 40
    assert sessions.role(first) == "admin" and sessions.role(second) == "read"
    assert sessions.role("guess") is None and sessions.role(None) is None
    sessions.end(second)
    assert sessions.role(second) is None
    clock.now += 59.9
    assert sessions.role(first) == "admin"
    clock.now += 0.2
    assert sessions.role(first) is None
    assert first not in repr(sessions)
    with pytest.raises(ValueError):
        Sessions(ttl=0)


def test_sessions_are_bounded():
    from pgtask.web.sessions import Sessions

    sessions = Sessions(ttl=60, clock=Clock(), limit=3)
    ids = [sessions.create("read") for _ in range(5)]
    assert [sessions.role(i) for i in ids] == [None, None, "read", "read", "read"]


def test_limiter_locks_after_five_failures_in_the_window():
    from pgtask.web.limiter import FailureLimiter

    clock = Clock()
    limiter = FailureLimiter(max_failures=5, window=300, lockout=120, clock=clock)
    for _ in range(4):
        limiter.failed("a")
        assert limiter.retry_after("a") is None
    limiter.failed("a")
    assert limiter.retry_after("a") == 120 and limiter.retry_after("b") is None
    clock.now += 100.5
    assert limiter.retry_after("a") == 20
    clock.now += 20
    assert limiter.retry_after("a") is None
    for _ in range(4):  # a fresh allowance after the lock-out
        limiter.failed("a")
    assert limiter.retry_after("a") is None


def test_limiter_forgets_failures_outside_the_window():
    from pgtask.web.limiter import FailureLimiter

    clock = Clock()
    limiter = FailureLimiter(max_failures=3, window=60, lockout=60, clock=clock)
    for _ in range(10):
        limiter.failed("a")
        limiter.failed("a")
        clock.now += 61
        assert limiter.retry_after("a") is None


def test_limiter_is_bounded_and_keys_ipv6_by_64():
    from pgtask.web.limiter import FailureLimiter, client_key

    clock = Clock()
    limiter = FailureLimiter(max_failures=1, window=10, lockout=10, clock=clock,
                             max_clients=2)
    for key in ("a", "b", "c"):
        limiter.failed(key)
    assert limiter.retry_after("a") is None and limiter.retry_after("c") == 10
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:10.0.0.1") == client_key("10.0.0.1") == "10.0.0.1"
    assert client_key(None) == "unknown"


@pytest.mark.parametrize("env, text", [
    ({"PGTASK_WEB_TOKENS": "admin:x"}, "shorter than 16"),
    ({"PGTASK_WEB_TOKENS": "admin:fifteen-chars-x"}, "shorter than 16"),
    ({"PGTASK_WEB_BASIC": "alice:elevenchars:admin"}, "shorter than 12"),
])
def test_short_credentials_are_refused(env, text):
    with pytest.raises(ConfigError) as caught:
        auth.load(env)
    assert text in str(caught.value) and "token_urlsafe" in str(caught.value)
    assert "fifteen" not in str(caught.value) and "eleven" not in str(caught.value)
    assert auth.load({"PGTASK_WEB_TOKENS": "admin:sixteen-chars-xx"}).enabled


# --- through HTTP ------------------------------------------------------------------------

def sign_in(c: TestClient, secret: str):
    c.get("/login")
    csrf = c.cookies["pgtask_csrf"]
    return c.post("/login", data={"token": secret, "csrf": csrf}, follow_redirects=False)


def test_the_session_cookie_is_not_the_token(secured):
    r = sign_in(secured, ADMIN_TOKEN)
    assert r.status_code == 303
    session = r.cookies["pgtask_session"]
    assert session and ADMIN_TOKEN not in session and session != ADMIN_TOKEN
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=43200" in cookie
    assert "secure" not in cookie  # http here; https gets Secure
    assert secured.get("/").status_code == 200
    again = sign_in(secured, ADMIN_TOKEN).cookies["pgtask_session"]
    assert again != session  # a new id each sign-in
    secured.cookies.clear()  # the cookie's value is no credential anywhere else
    assert secured.get("/api/tasks", headers=bearer(session)).status_code == 401


def test_over_https_the_session_cookie_is_secure(dsn):
    with TestClient(create_app(dsn, auth=AUTH), base_url="https://dash.example") as c:
        r = sign_in(c, ADMIN_TOKEN)
    assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()


def test_a_session_expires(dsn):
    with TestClient(create_app(dsn, auth=AUTH, session_ttl=0.5)) as c:
        assert sign_in(c, READ_TOKEN).status_code == 303
        session = c.cookies["pgtask_session"]
        assert c.get("/api/queues").status_code == 200

        def with_the_cookie():  # sent as a browser that ignores Max-Age (1 s here) would
            c.cookies.clear()
            c.cookies.set("pgtask_session", session)
            return c.get("/api/queues")

        expired = wait_until(lambda: (r := with_the_cookie()).status_code == 401 and r,
                             timeout=5, message="the session to expire")
        assert "session has ended" in expired.json()["error"]["message"]
        page = c.get("/")
        assert page.status_code == 401 and "sign in again" in page.text


def test_logout_ends_the_session(secured):
    sign_in(secured, ADMIN_TOKEN)
    session = secured.cookies["pgtask_session"]
    csrf = secured.cookies["pgtask_csrf"]
    page = secured.get("/")
    assert page.status_code == 200
    forged = secured.post("/logout", data={"csrf": "other"}, follow_redirects=False)
    assert forged.status_code == 403 and secured.get("/").status_code == 200
    r = secured.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "pgtask_session" not in secured.cookies
    secured.cookies.set("pgtask_session", session)  # replayed after logout
    assert secured.get("/").status_code == 401
    assert secured.get("/api/tasks").status_code == 401


def test_failed_logins_lock_the_client_out_even_with_the_right_token(secured):
    for _ in range(5):
        assert sign_in(secured, "wrong-token-guess-0000").status_code == 401
    for secret in (ADMIN_TOKEN, "wrong-token-guess-0001"):
        r = sign_in(secured, secret)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert "pgtask_session" not in r.cookies
    for headers in (bearer(ADMIN_TOKEN), basic_header("bob", BOB_PW)):
        r = secured.get("/api/tasks", headers=headers)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert r.json()["error"]["code"] == "too_many_failures"


def test_failed_bearer_tokens_count_too_and_other_clients_are_not_locked(dsn):
    app = create_app(dsn, auth=AUTH)
    with TestClient(app, client=("10.0.0.1", 4000)) as attacker, \
            TestClient(app, client=("10.0.0.2", 4000)) as other:
        for n in range(5):
            assert attacker.get("/api/tasks", headers=bearer(f"guess-{n}")).status_code == 401
        assert attacker.get("/api/tasks", headers=bearer(ADMIN_TOKEN)).status_code == 429
        assert other.get("/api/tasks", headers=bearer(ADMIN_TOKEN)).status_code == 200


def test_serve_refuses_a_short_token(run_cli, monkeypatch, dsn):
    monkeypatch.setenv("PGTASK_WEB_TOKENS", "admin:abc123")
    result = run_cli("serve", "--dsn", dsn, "--port", "0")
    assert result.code == 2
    assert "shorter than 16 characters" in result.err and "token_urlsafe(32)" in result.err
    assert "abc123" not in result.err


def test_serve_help_documents_the_hardening_options(run_cli):
    result = run_cli("serve", "--help")
    assert "--allowed-host" in result.out and "--session-ttl" in result.out
