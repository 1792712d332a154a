"""Where the worker may send a task.

A queue's target_url is operator configuration. A task's own target_url is data that anyone
able to enqueue can write, so it must start with one of the URL prefixes the worker was
started with. Whatever the URL, the address it leads to must pass the egress policy
(egress.py): metadata host names and literal addresses are refused here, before the request;
every address a name resolves to is vetted at connect time (net.py), on every new connection.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from pgtask.errors import PgTaskError
from pgtask.redact import redact_url as redact
from pgtask.worker.http.egress import EgressPolicy, parse_address, refusal_hint, vet_address

BLOCKED_NAMES = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data",
    "instance-data.ec2.internal", "metadata.azure.internal",
})
DEFAULT_PORTS = {"http": 80, "https": 443}


class TargetRefused(PgTaskError):
    """The worker's target policy forbids this URL; the task cannot ever be delivered."""


def redact_url(url: str | httpx.URL) -> str:
    """The URL without credentials or query values, fit for logs and errors (one rule for
    every face: pgtask.redact)."""
    return redact(str(url))


def _origin_and_path(url: httpx.URL) -> tuple[str, str, int, str]:
    port = url.port or DEFAULT_PORTS.get(url.scheme, 0)
    return url.scheme, url.host.lower().rstrip("."), port, url.path or "/"


def parse_prefix(prefix: str) -> httpx.URL:
    """An allowlist entry, checked once at start-up so a typo fails loudly."""
    try:
        url = httpx.URL(prefix)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid allowed URL prefix {prefix!r}: {exc}") from None
    if url.scheme not in DEFAULT_PORTS or not url.host:
        raise ValueError(f"allowed URL prefix {prefix!r} must be an http(s) URL with a host")
    if url.userinfo or url.query or url.fragment:
        raise ValueError(f"allowed URL prefix {prefix!r} must not hold credentials or a query")
    return url


def matches_prefix(url: httpx.URL, prefix: httpx.URL) -> bool:
    """True when `url` lies under `prefix`: same scheme, host and port, and a path that
    continues the prefix's path at a segment boundary ("/api" allows "/api/x", not "/apix").
    Compared on parsed URLs, so "https://good.com.evil.org" never passes for "https://good.com"."""
    scheme, host, port, path = _origin_and_path(url)
    p_scheme, p_host, p_port, p_path = _origin_and_path(prefix)
    if (scheme, host, port) != (p_scheme, p_host, p_port):
        return False
    if p_path.endswith("/") or path == p_path:
        return path.startswith(p_path)
    return path.startswith(p_path + "/")


def check_task_url(url: str, allowed: Iterable[httpx.URL]) -> httpx.URL:
    """The parsed per-task URL if the allowlist covers it; else TargetRefused."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise TargetRefused(f"task target_url {redact_url(url)} is not a valid URL") from None
    if not any(matches_prefix(parsed, p) for p in allowed):
        raise TargetRefused(
            f"task target_url {redact_url(url)} is not under any allowed prefix; start the "
            "worker with --http-allow PREFIX (or PGTASK_HTTP_ALLOW) to permit it")
    return parsed


def check_host(host: str, egress: EgressPolicy) -> None:
    """Refuse metadata host names and literal addresses the egress policy forbids, before
    any request (a name's addresses are vetted when it is resolved, at connect time)."""
    name = host.lower().rstrip(".").strip("[]")
    if name in BLOCKED_NAMES and not egress.allow_link_local:
        raise TargetRefused(f"target host {name} is a cloud-metadata name; refused "
                            f"({refusal_hint('cloud-metadata')})")
    ip = parse_address(name)
    reason = None if ip is None else vet_address(ip, egress)
    if reason is not None:
        raise TargetRefused(f"target address {name} is {reason}; refused ({refusal_hint(reason)})")


def target_url(task_url: str | None, queue_url: str | None, *, queue: str,
               allow: Iterable[httpx.URL], egress: EgressPolicy) -> httpx.URL:
    """Where a task goes: its own URL (if the allowlist covers it) or its queue's, after the
    checks that need no DNS. TargetRefused, its message fit to store, when it may not go."""
    if task_url:
        url = check_task_url(task_url, allow)
    elif queue_url:
        try:
            url = httpx.URL(queue_url)
        except httpx.InvalidURL:
            raise TargetRefused(f"queue {queue} has a target_url that is not a valid URL: "
                                f"{redact_url(queue_url)}") from None
    else:
        raise TargetRefused(f"queue {queue} has no target_url and the task has none")
    try:
        check_host(url.host, egress)
    except TargetRefused as exc:
        raise TargetRefused(f"POST {redact_url(url)}: {exc}") from None
    return url
