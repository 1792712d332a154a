"""Status -> outcome mapping and Retry-After parsing (pure)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pgtask.models import Backoff
from pgtask.worker.http.outcome import classify_error, classify_status, parse_retry_after

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
POLICY = Backoff(min_backoff=1.0, max_backoff=60.0, max_doublings=10)


@pytest.mark.parametrize("status,kind", [
    (200, "succeeded"), (201, "succeeded"), (204, "succeeded"),
    (500, "failed"), (502, "failed"), (504, "failed"), (408, "failed"), (409, "failed"),
    (429, "failed"), (503, "failed"),
    (400, "dead"), (401, "dead"), (403, "dead"), (404, "dead"), (410, "dead"), (422, "dead"),
    (301, "dead"), (302, "dead"), (307, "dead"),
])
def test_status_mapping(status, kind):
    assert classify_status(status, 1, POLICY, now=NOW).kind == kind


def test_plain_retries_leave_the_delay_to_the_queue_backoff():
    verdict = classify_status(500, 3, POLICY, now=NOW)
    assert verdict.delay is None and not verdict.pushback


def test_retry_after_seconds_and_http_date():
    assert classify_status(429, 1, POLICY, retry_after="2", now=NOW).delay == timedelta(seconds=2)
    date = "Wed, 01 May 2024 12:00:30 GMT"
    assert classify_status(503, 1, POLICY, retry_after=date, now=NOW).delay == timedelta(seconds=30)
    # Read against the server's own clock (its Date header), so skew cancels out.
    verdict = classify_status(503, 1, POLICY, retry_after=date, now=NOW + timedelta(hours=1),
                              date="Wed, 01 May 2024 12:00:10 GMT")
    assert verdict.delay == timedelta(seconds=20) and verdict.pushback


def test_pushback_without_retry_after_backs_off_harder():
    # Queue backoff at attempt 3 is 4 s; a 429/503 waits twice that.
    assert classify_status(429, 3, POLICY, now=NOW).delay == timedelta(seconds=8)
    assert classify_status(503, 30, POLICY, now=NOW).delay == timedelta(seconds=60)  # capped


@pytest.mark.parametrize("value,expected", [
    ("0", timedelta(0)), ("120", timedelta(seconds=120)), (" 5 ", timedelta(seconds=5)),
    ("Wed, 01 May 2024 11:00:00 GMT", timedelta(0)),  # in the past: now
    ("999999999", timedelta(days=1)),                  # absurd: capped
    ("soon", None), ("", None), (None, None), ("-3", None),
])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, NOW) == expected


def test_transport_errors_retry():
    request = httpx.Request("POST", "http://127.0.0.1/")
    assert classify_error(httpx.ReadTimeout("t", request=request)).reason == "timeout"
    assert classify_error(TimeoutError()).reason == "timeout"
    refused = httpx.ConnectError("refused", request=request)
    assert classify_error(refused).reason == "connection error"
    try:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as inner:
            raise httpx.ConnectError("tls", request=request) from inner
    except httpx.ConnectError as exc:
        verdict = classify_error(exc)
    assert verdict.reason == "tls error" and verdict.kind == "failed"
    assert classify_error(httpx.RemoteProtocolError("eof", request=request)).kind == "failed"
