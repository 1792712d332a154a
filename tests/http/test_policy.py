"""Target policy: the per-task URL allowlist and the metadata-address guard (pure)."""

from __future__ import annotations

import httpx
import pytest

from pgtask.worker.http.policy import (
    TargetRefused,
    blocked_address,
    check_host_name,
    check_task_url,
    matches_prefix,
    parse_prefix,
    redact_url,
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


@pytest.mark.parametrize("address,blocked", [
    ("169.254.169.254", True), ("169.254.1.1", True), ("fd00:ec2::254", True),
    ("fe80::1", True), ("fe80::1%eth0", True), ("::ffff:169.254.169.254", True),
    ("100.100.100.200", True), ("127.0.0.1", False), ("10.0.0.1", False), ("::1", False),
    ("example.com", False),
])
def test_blocked_addresses(address, blocked):
    assert blocked_address(address) is blocked


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.google.internal.",
                                  "169.254.169.254", "[fd00:ec2::254]"])
def test_metadata_host_names_are_refused(host):
    with pytest.raises(TargetRefused, match="metadata"):
        check_host_name(host)


def test_redact_url_hides_credentials_and_query_values():
    text = redact_url("https://user:hunter2@example.com:8443/p/q?token=abc")
    assert text == "https://example.com:8443/p/q?…"
    assert redact_url("http://example.com:abc/") == "<invalid URL>"
