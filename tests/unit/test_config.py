"""pgtask.config: DSN redaction, backend detection and DSN resolution."""

from __future__ import annotations

import pytest

from pgtask.config import DSN_ENV, backend_of, redact_dsn, resolve_dsn
from pgtask.errors import ConfigError


@pytest.mark.parametrize(("dsn", "redacted"), [
    ("postgresql://app:s3cret@db.example.com:5432/app",
     "postgresql://app:***@db.example.com:5432/app"),
    ("postgresql://app:s3cret@db.example.com/app", "postgresql://app:***@db.example.com/app"),
    ("postgres://app:p%40ss%3Aword@db/app", "postgres://app:***@db/app"),
    ("postgresql://app:p@ss@db/app", "postgresql://app:***@db/app"),
    ("postgresql://app:@db/app", "postgresql://app:***@db/app"),
    ("postgresql://app:s3cret@[::1]:5432/app", "postgresql://app:***@[::1]:5432/app"),
    ("postgresql://app:s3cret@/app?host=/var/run/postgresql",
     "postgresql://app:***@/app?host=/var/run/postgresql"),
    ("mysql+pymysql://root:hunter2@127.0.0.1:3306/pgtask",
     "mysql+pymysql://root:***@127.0.0.1:3306/pgtask"),
    ("postgresql://app:pa#ss@db/app", "postgresql://app:***@db/app"),
    ("postgresql://app:pa/ss?x@db/app", "postgresql://app:***@db/app"),
])
def test_redact_url_password(dsn, redacted):
    assert redact_dsn(dsn) == redacted


@pytest.mark.parametrize(("dsn", "redacted"), [
    ("postgresql://app@db/app?password=s3cret", "postgresql://app@db/app?password=***"),
    ("postgresql://db/app?sslmode=require&password=s3cret&connect_timeout=5",
     "postgresql://db/app?sslmode=require&password=***&connect_timeout=5"),
    ("postgresql://db/app?PASSWORD=s3cret", "postgresql://db/app?PASSWORD=***"),
    ("postgresql://u:one@db/app?password=two", "postgresql://u:***@db/app?password=***"),
    ("postgresql:///app?password=s3cret#frag", "postgresql:///app?password=***#frag"),
])
def test_redact_password_in_query_string(dsn, redacted):
    assert redact_dsn(dsn) == redacted


@pytest.mark.parametrize(("dsn", "redacted"), [
    ("host=db user=app password=s3cret dbname=app", "host=db user=app password=*** dbname=app"),
    ("password=s3cret host=db", "password=*** host=db"),
    ("host=db password = s3cret", "host=db password = ***"),
    ("host=db password='with space' user=app", "host=db password=*** user=app"),
    (r"host=db password='it\'s' user=app", "host=db password=*** user=app"),
    ("host=db PASSWORD=s3cret", "host=db PASSWORD=***"),
    ("host=db sslpassword=s3cret", "host=db sslpassword=***"),
])
def test_redact_keyword_password(dsn, redacted):
    assert redact_dsn(dsn) == redacted


@pytest.mark.parametrize("dsn", [
    "postgresql://app@db/app", "host=db user=app dbname=app", "postgresql:///app", "",
    "postgresql://db:5432/app?application_name=a", "postgresql://[::1]:5432/app",
])
def test_dsn_without_password_is_unchanged(dsn):
    assert redact_dsn(dsn) == dsn


@pytest.mark.parametrize(("dsn", "backend"), [
    ("postgresql://u@h/db", "postgres"),
    ("postgres://u@h/db", "postgres"),
    ("POSTGRESQL://u@h/db", "postgres"),
    ("postgresql+psycopg://u@h/db", "postgres"),
    ("host=h dbname=db", "postgres"),
    ("mysql://u:p@h/db", "mysql"),
    ("mariadb://u:p@h/db", "mysql"),
    ("mysql+pymysql://u:p@h/db", "mysql"),
])
def test_backend_of(dsn, backend):
    assert backend_of(dsn) == backend


def test_unknown_scheme_is_refused_without_leaking_the_password():
    with pytest.raises(ConfigError, match="unsupported database URL scheme 'sqlite'") as info:
        backend_of("sqlite://u:topsecret@h/db")
    assert "topsecret" not in str(info.value)
    assert "u:***@h" in str(info.value)


def test_resolve_prefers_the_given_dsn(monkeypatch):
    monkeypatch.setenv(DSN_ENV, "postgresql://env@h/db")
    assert resolve_dsn("postgresql://flag@h/db") == "postgresql://flag@h/db"


def test_resolve_falls_back_to_the_environment(monkeypatch):
    monkeypatch.setenv(DSN_ENV, "postgresql://env@h/db")
    assert resolve_dsn(None) == "postgresql://env@h/db"


def test_resolve_without_any_dsn_and_no_embedded_is_an_error(monkeypatch):
    monkeypatch.delenv(DSN_ENV, raising=False)
    with pytest.raises(ConfigError, match="pass --dsn or set PGTASK_DSN"):
        resolve_dsn(None, embedded_ok=False)
    monkeypatch.setenv(DSN_ENV, "")
    with pytest.raises(ConfigError):
        resolve_dsn("", embedded_ok=False)


def test_resolve_refuses_an_unknown_scheme_early(monkeypatch):
    monkeypatch.setenv(DSN_ENV, "redis://:pw@h/0")
    with pytest.raises(ConfigError, match="unsupported database URL scheme") as info:
        resolve_dsn(None)
    assert ":pw@" not in str(info.value)
