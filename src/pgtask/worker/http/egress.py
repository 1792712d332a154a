"""Which IP addresses the worker may connect to: the egress policy, as pure functions.

Any name can resolve to any address, and a task's target URL is data that whoever can
enqueue writes, so the decision is taken on the address the worker is about to connect to,
never on the name. Refused by default (server-side request forgery targets):

    loopback, private (RFC 1918, IPv6 ULA), shared CGNAT 100.64/10, unspecified, multicast,
    reserved / documentation / benchmark ranges, and anything else that is not global;
    link-local and cloud-metadata addresses (the classic prize), even more firmly.

IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4
2002::/16, IPv4-compatible ::/96, Teredo 2001::/32) are judged by the IPv4 address inside,
since that is where the packets end up: [64:ff9b::a9fe:a9fe] is the metadata service.

An operator opens private ranges with an explicit CIDR allow-list (--http-allow-cidr);
link-local and metadata addresses open only with --http-allow-link-local.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# (category, networks): the first category that holds the address names it. Metadata
# addresses come before link-local, which holds most of them.
METADATA = "cloud-metadata"
LINK_LOCAL = "link-local"
CATEGORIES: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    (METADATA, _nets("169.254.169.254/32",   # AWS, GCP, Azure, Oracle, OpenStack
                     "169.254.170.2/32",     # AWS ECS task credentials
                     "fd00:ec2::254/128",    # AWS over IPv6
                     "100.100.100.200/32",   # Alibaba Cloud
                     "192.0.0.192/32")),     # Oracle Cloud (legacy)
    (LINK_LOCAL, _nets("169.254.0.0/16", "fe80::/10")),
    ("unspecified", _nets("0.0.0.0/8", "::/128")),  # 0.0.0.0 reaches this host on Linux
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("private", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("shared CGNAT", _nets("100.64.0.0/10")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    ("reserved", _nets("240.0.0.0/4", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
                       "198.51.100.0/24", "203.0.113.0/24", "192.88.99.0/24", "100::/64",
                       "2001:db8::/32", "3fff::/20", "fec0::/10", "64:ff9b:1::/48")),
)
FIRMLY_REFUSED = frozenset({METADATA, LINK_LOCAL})  # only allow_link_local opens these

NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")  # all else in IPv6 is special or unassigned


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    allow_cidrs: tuple[IPNetwork, ...] = ()  # opened explicitly by the operator
    allow_link_local: bool = False           # link-local and cloud-metadata addresses too


def parse_address(text: str) -> IPAddress | None:
    """The IP address in `text` ("[::1]" and zone ids accepted); None for a host name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def parse_cidr(text: str) -> IPNetwork:
    """An allow-list entry ("10.0.0.0/8", "fd12::/16", or one address). Strict, so that a
    typo such as 10.0.0.1/8 fails loudly instead of opening more than was meant."""
    try:
        return ipaddress.ip_network(text.strip())
    except ValueError as exc:
        raise ValueError(f"invalid CIDR {text!r} for the HTTP allow-list: {exc}") from None


def embedded_ipv4(ip: IPAddress) -> tuple[str, ipaddress.IPv4Address] | None:
    """(form, the IPv4 address inside) for the IPv6 forms that carry one, else None."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip in NAT64:
        return "NAT64", low32
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]  # the client's address, un-obfuscated
    if ip in IPV4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are themselves
        return "IPv4-compatible", low32
    return None


def category(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is; None for a global unicast address."""
    for name, networks in CATEGORIES:
        if any(ip in net for net in networks if net.version == ip.version):
            return name
    if isinstance(ip, ipaddress.IPv6Address) and ip not in GLOBAL_UNICAST_V6:
        return "reserved"
    return None if ip.is_global else "reserved"


def vet_address(address: str | IPAddress, policy: EgressPolicy) -> str | None:
    """None when the policy lets the worker connect to `address`; else why not, e.g.
    "loopback" or "the NAT64 form of 169.254.169.254 (cloud-metadata)"."""
    ip = parse_address(address) if isinstance(address, str) else address
    if ip is None:
        return f"{address!r} is not an IP address"
    inner = embedded_ipv4(ip)
    effective = inner[1] if inner else ip
    kind = category(effective)
    if inner is not None and kind is None and inner[0] in ("Teredo", "IPv4-compatible"):
        kind = "reserved"  # obsolete tunnels: nothing legitimate is served there
    if kind is None:
        return None
    if kind in FIRMLY_REFUSED:
        if policy.allow_link_local:
            return None
    elif any(a in net for net in policy.allow_cidrs for a in (ip, effective)
             if net.version == a.version):
        return None
    return f"the {inner[0]} form of {effective} ({kind})" if inner else kind


def refusal_hint(reason: str) -> str:
    """How an operator opens what `reason` refused."""
    if METADATA in reason or LINK_LOCAL in reason:
        return "start the worker with --http-allow-link-local if you really mean it"
    return "open the range with --http-allow-cidr CIDR or PGTASK_HTTP_ALLOW_CIDR"
