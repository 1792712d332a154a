"""What an HTTP attempt's answer means for the task: pure functions, Cloud Tasks semantics.

    2xx                      succeeded; the body becomes the result
    429, 503                 retry after Retry-After (seconds or HTTP date), else after twice
                             the queue's backoff: the target asked us to slow down
    408, 409, other 5xx      retry with the queue's backoff
    3xx                      dead: redirects are not followed (point the target at the final URL)
    other 4xx                dead: the request itself is wrong and will not get better
    timeout, connection      retry with the queue's backoff
    or TLS error
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Literal

import httpx

from pgtask.models import Backoff

VerdictKind = Literal["succeeded", "failed", "dead"]

PUSHBACK = frozenset({429, 503})
RETRIED_4XX = frozenset({408, 409})
# A Retry-After beyond this is treated as this: a typo must not park a task for a year.
MAX_RETRY_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    reason: str                      # short and stable, e.g. "http 503", "timeout"
    delay: timedelta | None = None   # None: the queue's backoff, computed in SQL
    pushback: bool = False           # the target asked us to slow down (429/503)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as a delay: delta-seconds or an HTTP date (relative to `now`)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # HTTP dates are GMT
            when = when.replace(tzinfo=UTC)
        delay = max(timedelta(0), when - now)
    return min(delay, MAX_RETRY_AFTER)


def server_now(date_header: str | None, fallback: datetime) -> datetime:
    """The server's clock from its Date header: an HTTP-date Retry-After is read against the
    clock that wrote it, so skew between the two machines cancels out."""
    if date_header:
        try:
            when = parsedate_to_datetime(date_header)
            return when if when.tzinfo else when.replace(tzinfo=UTC)
        except (TypeError, ValueError, IndexError):
            pass
    return fallback


def classify_status(status: int, attempt: int, backoff: Backoff, *,
                    retry_after: str | None = None, date: str | None = None,
                    now: datetime | None = None) -> Verdict:
    """The verdict on an HTTP response status."""
    reason = f"http {status}"
    if 200 <= status < 300:
        return Verdict("succeeded", reason)
    if status in PUSHBACK:
        local = now or datetime.now(UTC)
        delay = parse_retry_after(retry_after, server_now(date, local))
        if delay is None:  # asked to slow down without saying how much: back off harder
            delay = timedelta(seconds=min(backoff.max_backoff, 2 * backoff.after(attempt)))
        return Verdict("failed", reason, delay, pushback=True)
    if 300 <= status < 400:
        return Verdict("dead", f"{reason} redirect not followed")
    if status in RETRIED_4XX or status >= 500:
        return Verdict("failed", reason)
    return Verdict("dead", reason)


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception and what caused it: httpx wraps httpcore, which wraps ssl."""
    seen = 0
    while exc is not None and seen < 10:
        yield exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1


def classify_error(exc: BaseException) -> Verdict:
    """The verdict on a request that got no response: always worth another try."""
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return Verdict("failed", "timeout")
    if any(isinstance(e, ssl.SSLError) for e in _causes(exc)):
        return Verdict("failed", "tls error")
    if isinstance(exc, (httpx.ConnectError, ConnectionError)):
        return Verdict("failed", "connection error")
    return Verdict("failed", f"transport error ({type(exc).__name__})")


def status_text(status: int) -> str:
    """'503 Service Unavailable' (or just the number for an unknown code)."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)
