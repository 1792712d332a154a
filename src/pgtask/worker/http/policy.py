"""Where the worker may send a task.

A queue's target_url is operator configuration and trusted. A task's own target_url is data
that anyone able to enqueue can write, so it must start with one of the URL prefixes the
worker was started with. Whatever the URL, link-local and cloud-metadata addresses (the
classic server-side request forgery prize) are refused -- by name before the request, and by
address after DNS resolution, on every new connection -- unless explicitly allowed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import httpx

from pgtask.errors import PgTaskError

# Link-local ranges hold the metadata services of AWS, GCP, Azure, Oracle and OpenStack
# (169.254.169.254); the others are cloud-specific metadata addresses outside them.
BLOCKED_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16",      # IPv4 link-local
    "fe80::/10",           # IPv6 link-local
    "fd00:ec2::254/128",   # AWS metadata over IPv6
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "192.0.0.192/32",      # Oracle Cloud legacy metadata
))
BLOCKED_NAMES = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data",
    "instance-data.ec2.internal", "metadata.azure.internal",
})
DEFAULT_PORTS = {"http": 80, "https": 443}


class TargetRefused(PgTaskError):
    """The worker's target policy forbids this URL; the task cannot ever be delivered."""


def redact_url(url: str | httpx.URL) -> str:
    """The URL without credentials or query values, fit for logs and errors."""
    try:
        parsed = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid URL>"
    host = parsed.host if ":" not in parsed.host else f"[{parsed.host}]"
    port = f":{parsed.port}" if parsed.port else ""
    query = "?…" if parsed.query else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}{query}"


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


def blocked_address(address: str) -> bool:
    """True for link-local / cloud-metadata IP addresses (IPv4-mapped IPv6 included)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in BLOCKED_NETWORKS if net.version == ip.version)


def check_host_name(host: str) -> None:
    """Refuse metadata host names and literal metadata addresses before any request."""
    name = host.lower().rstrip(".").strip("[]")
    if name in BLOCKED_NAMES or blocked_address(name):
        raise TargetRefused(
            f"target host {name} is a link-local or cloud-metadata address; refused "
            "(start the worker with --http-allow-link-local if you really mean it)")
