"""Target policy: the per-task URL allowlist and the host checks made before a request (pure).
The address table itself is in test_egress.py."""

from __future__ import annotations

import httpx
import pytest

from pgtask.worker.http.egress import EgressPolicy, parse_cidr
from pgtask.worker.http.policy import (
    TargetRefused,
    check_host,
    check_task_url,
    matches_prefix,
    parse_prefix,
    redact_url,
    target_url,
)

ALLOW = [parse_prefix("https://api.example.com/hooks/"), parse_prefix("http://127.0.0.1:8080/v1")]


@pytest.mark.parametrize("url", [
    "https://api.example.com/hooks/a", "https://API.example.com:443/hooks/a?x=1",
    "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/x",
])
def test_allowed(url):
    assert check_task_url(url, ALLOW)


@pytest.mark.parametrize("url", [
    "https://api.example.com.evil.org/hooks/a",   # suffix trick
    "https://api.example.com@evil.org/hooks/a",   # userinfo trick
    "http://api.example.com/hooks/a",             # scheme
    "https://api.example.com:8443/hooks/a",       # port
    "https://api.example.com/hook",               # outside the path
    "http://127.0.0.1:8080/v10",                  # not at a segment boundary
    "http://127.0.0.1:8081/v1",
    "not a url",
])
def test_refused(url):
    with pytest.raises(TargetRefused, match="not"):
        check_task_url(url, ALLOW)


def test_nothing_is_allowed_by_default_and_the_error_says_how_to_fix_it():
    with pytest.raises(TargetRefused, match="--http-allow"):
        check_task_url("https://api.example.com/hooks/a", [])


def test_bad_prefixes_fail_loudly():
    for bad in ("ftp://x/", "https://user:pw@x/", "https://x/?q=1", "nohost"):
        with pytest.raises(ValueError):
            parse_prefix(bad)
    assert matches_prefix(httpx.URL("https://x/"), parse_prefix("https://x"))


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.google.internal.",
                                  "169.254.169.254", "[fd00:ec2::254]", "[::ffff:169.254.169.254]"])
def test_metadata_host_names_are_refused(host):
    with pytest.raises(TargetRefused, match="metadata"):
        check_host(host, EgressPolicy())
    check_host(host, EgressPolicy(allow_link_local=True))  # the operator's explicit choice


@pytest.mark.parametrize("host,why", [
    ("127.0.0.1", "loopback"), ("[::1]", "loopback"), ("10.1.2.3", "private"),
    ("0.0.0.0", "unspecified"), ("[64:ff9b::a9fe:a9fe]", "NAT64 form of 169.254.169.254"),
])
def test_literal_addresses_are_refused_before_any_request(host, why):
    with pytest.raises(TargetRefused, match="--http-allow") as info:
        check_host(host, EgressPolicy())
    assert why in str(info.value)


def test_names_pass_until_resolved_and_cidrs_open_literals():
    check_host("api.example.com", EgressPolicy())  # its addresses are vetted at connect time
    check_host("10.1.2.3", EgressPolicy(allow_cidrs=(parse_cidr("10.0.0.0/8"),)))


def test_redact_url_hides_credentials_and_query_values():
    text = redact_url("https://user:hunter2@example.com:8443/p/q?token=abc")
    assert text == "https://***@example.com:8443/p/q?token=***"  # pgtask.redact's one rule
    assert redact_url("http://example.com:abc/") == "<unparseable URL>"


def test_target_url_picks_the_task_url_then_the_queue_url_and_explains_refusals():
    def target(task_url, queue_url):
        return target_url(task_url, queue_url, queue="hooks", allow=ALLOW, egress=EgressPolicy())
    assert str(target("https://api.example.com/hooks/a", "https://q.example.com/x")) == \
        "https://api.example.com/hooks/a"
    assert str(target(None, "https://q.example.com/x")) == "https://q.example.com/x"
    for task_url, queue_url, why in [
        (None, None, "queue hooks has no target_url"),
        (None, "http://[::1/x", "not a valid URL"),
        (None, "http://user:pw@10.0.0.1/x?k=v", "POST http://***@10.0.0.1/x?k=***: target address "
                                               "10.0.0.1 is private"),
        ("http://127.0.0.1:8080/v1/x", None, "127.0.0.1 is loopback"),  # prefix ok, address not
    ]:
        with pytest.raises(TargetRefused) as info:
            target(task_url, queue_url)
        assert why in str(info.value) and "pw" not in str(info.value)
