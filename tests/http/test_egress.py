"""Egress by address, not by name: every address a target resolves to is vetted at connect
time, for per-task and queue targets alike; private ranges open only by an explicit CIDR."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess

import click
import pytest
from click.testing import CliRunner

import pgtask
from pgtask.cli.http_options import http_config, http_options
from pgtask.models import QueuePolicy
from pgtask.worker.http.config import HttpConfig
from pgtask.worker.http.egress import EgressPolicy, parse_cidr, vet_address
from pgtask.worker.http.policy import parse_prefix

from .fakenet import RecordingNetwork, ScriptedResolver
from .helpers import dispatch, make_config, make_task
from .target import TargetServer


def teredo(client: str) -> str:
    """A Teredo address (2001::/32) whose client is `client` (stored inverted, RFC 4380)."""
    server = int(ipaddress.IPv4Address("65.54.227.120"))
    inverted = int(ipaddress.IPv4Address(client)) ^ 0xFFFF_FFFF
    return str(ipaddress.IPv6Address((0x2001_0000 << 96) | (server << 64) | inverted))


# (address, why it is refused by default; None: public, connected to)
TABLE = [
    ("93.184.216.34", None), ("8.8.8.8", None), ("2606:4700::1111", None),
    ("2001:4860:4860::8888", None), ("::ffff:93.184.216.34", None),
    ("64:ff9b::5db8:d822", None), ("2002:5db8:d822::1", None),    # NAT64, 6to4 of a public one
    ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"), ("::1", "loopback"),
    ("10.0.0.1", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"),
    ("192.168.1.1", "private"), ("fd12:3456::1", "private"), ("fc00::1", "private"),
    ("100.64.0.1", "shared CGNAT"), ("100.127.255.255", "shared CGNAT"),
    ("169.254.169.254", "cloud-metadata"), ("169.254.170.2", "cloud-metadata"),
    ("fd00:ec2::254", "cloud-metadata"), ("100.100.100.200", "cloud-metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"),
    ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("192.0.2.1", "reserved"),
    ("198.18.0.1", "reserved"), ("203.0.113.9", "reserved"), ("2001:db8::1", "reserved"),
    ("100::1", "reserved"), ("3fff::1", "reserved"), ("5f00::1", "reserved"),
    ("::ffff:169.254.169.254", "the IPv4-mapped form of 169.254.169.254 (cloud-metadata)"),
    ("::ffff:127.0.0.1", "the IPv4-mapped form of 127.0.0.1 (loopback)"),
    ("::ffff:0:0", "the IPv4-mapped form of 0.0.0.0 (unspecified)"),
    ("64:ff9b::a9fe:a9fe", "the NAT64 form of 169.254.169.254 (cloud-metadata)"),
    ("64:ff9b::a00:1", "the NAT64 form of 10.0.0.1 (private)"),
    ("64:ff9b::7f00:1", "the NAT64 form of 127.0.0.1 (loopback)"),
    ("2002:a9fe:a9fe::", "the 6to4 form of 169.254.169.254 (cloud-metadata)"),
    ("2002:c0a8:101::1", "the 6to4 form of 192.168.1.1 (private)"),
    ("::a9fe:a9fe", "the IPv4-compatible form of 169.254.169.254 (cloud-metadata)"),
    ("::7f00:1", "the IPv4-compatible form of 127.0.0.1 (loopback)"),
    ("::5db8:d822", "the IPv4-compatible form of 93.184.216.34 (reserved)"),  # obsolete form
    (teredo("169.254.169.254"), "the Teredo form of 169.254.169.254 (cloud-metadata)"),
    (teredo("10.1.2.3"), "the Teredo form of 10.1.2.3 (private)"),
    (teredo("93.184.216.34"), "the Teredo form of 93.184.216.34 (reserved)"),
]


@pytest.mark.parametrize("address,why", TABLE)
def test_the_default_policy(address, why):
    assert vet_address(address, EgressPolicy()) == why


TEN = EgressPolicy(allow_cidrs=(parse_cidr("10.0.0.0/8"),))
LOOPBACK_V4 = EgressPolicy(allow_cidrs=(parse_cidr("127.0.0.0/8"),))
EVERYTHING = EgressPolicy(allow_cidrs=(parse_cidr("0.0.0.0/0"), parse_cidr("::/0")))
LINK_LOCAL = EgressPolicy(allow_link_local=True)


@pytest.mark.parametrize("address,policy,allowed", [
    ("10.1.2.3", TEN, True), ("::ffff:10.1.2.3", TEN, True), ("64:ff9b::a01:203", TEN, True),
    ("192.168.0.1", TEN, False), ("11.0.0.1", TEN, True),
    ("127.0.0.1", LOOPBACK_V4, True), ("::1", LOOPBACK_V4, False),
    ("10.0.0.1", LOOPBACK_V4, False),
    # A CIDR never opens metadata or link-local addresses; only the explicit flag does.
    ("169.254.169.254", EVERYTHING, False), ("64:ff9b::a9fe:a9fe", EVERYTHING, False),
    ("fe80::1", EVERYTHING, False), ("127.0.0.1", EVERYTHING, True),
    ("169.254.169.254", LINK_LOCAL, True), ("fe80::1", LINK_LOCAL, True),
    ("127.0.0.1", LINK_LOCAL, False),
])
def test_allow_lists(address, policy, allowed):
    assert (vet_address(address, policy) is None) is allowed


def test_cidrs_are_checked_strictly():
    assert str(parse_cidr("10.0.0.5")) == "10.0.0.5/32"
    for bad in ("10.0.0.1/8", "10.0.0.0/33", "intranet", ""):
        with pytest.raises(ValueError, match="CIDR"):
            parse_cidr(bad)


def test_cidrs_from_the_environment_and_the_cli_flag():
    config = HttpConfig.from_env({"PGTASK_HTTP_ALLOW_CIDR": "10.0.0.0/8, fd00::/8"},
                                 allow_cidrs=["127.0.0.1"])
    assert [str(c) for c in config.allow_cidrs] == ["10.0.0.0/8", "fd00::/8", "127.0.0.1/32"]
    with pytest.raises(pgtask.ConfigError, match="10.0.0.1/8"):
        HttpConfig.from_env({"PGTASK_HTTP_ALLOW_CIDR": "10.0.0.1/8"})

    @click.command()
    @http_options
    def worker(http_allow, http_allow_cidr, http_allow_link_local, http_secrets_file):
        config = http_config(http_allow, http_allow_link_local, http_secrets_file,
                             http_allow_cidr)
        click.echo(" ".join(str(c) for c in config.allow_cidrs))

    result = CliRunner().invoke(worker, ["--http-allow-cidr", "10.0.0.0/8",
                                         "--http-allow-cidr", "192.168.7.0/24"], env={})
    assert result.exit_code == 0 and result.output.strip() == "10.0.0.0/8 192.168.7.0/24"


# -- through the dispatcher, against a real HTTP server on 127.0.0.1 -----------------------

SECRET_URL = "http://user:pw-77secret@{host}:{port}/task?token=tok-77secret"


@pytest.mark.parametrize("name,resolver", [
    ("localhost", None),                                               # the OS resolver
    ("hooks.partner.test", ScriptedResolver({"hooks.partner.test": [["127.0.0.1"]]})),
])
def test_an_allowlisted_name_that_resolves_to_loopback_is_refused(target, name, resolver):
    url = SECRET_URL.format(host=name, port=target.port)
    config = make_config(allow=(parse_prefix(f"http://{name}:{target.port}/"),), allow_cidrs=())
    kw = {"resolver": resolver} if resolver else {}
    [done] = dispatch(config, [make_task(target_url=url)], QueuePolicy("hooks"), **kw)
    assert done.kind == "dead" and done.attempt.reason == "refused by target policy"
    assert f"POST http://***@{name}:{target.port}/task?" in done.error
    assert f": target host {name} resolves to" in done.error
    assert "loopback; refused (open the range with --http-allow-cidr" in done.error
    assert "77secret" not in done.error and target.requests == []
    # The prefix was never the problem: open loopback and the same task goes out.
    opened = make_config(allow=config.allow)
    [ok] = dispatch(opened, [make_task(target_url=url)], QueuePolicy("hooks"), **kw)
    assert ok.kind == "succeeded" and len(target.requests) == 1


QUEUE_TARGETS = [("10.0.0.1", "private"), ("192.168.1.20", "private"),
                 ("[64:ff9b::a9fe:a9fe]", "the NAT64 form of 169.254.169.254 (cloud-metadata)"),
                 ("[2002:a9fe:a9fe::]", "the 6to4 form of 169.254.169.254 (cloud-metadata)"),
                 ("[::ffff:169.254.169.254]", "cloud-metadata")]


@pytest.mark.parametrize("host,why", QUEUE_TARGETS)
def test_queue_targets_are_vetted_before_any_connection(host, why):
    net = RecordingNetwork()
    policy = QueuePolicy("hooks", target_url=SECRET_URL.format(host=host, port=8080))
    [done] = dispatch(make_config(), [make_task()], policy, network=net)
    assert done.kind == "dead" and why in done.error
    assert f"POST http://***@{host}:8080/task?" in done.error and ": target address" in done.error
    assert "77secret" not in done.error and net.connects == []
    # A name that resolves there is refused at connect time, still before any socket.
    resolver = ScriptedResolver({"intranet.test": [[host.strip("[]")]]})
    policy = QueuePolicy("hooks", target_url="http://intranet.test:8080/task")
    [by_name] = dispatch(make_config(), [make_task()], policy, network=net, resolver=resolver)
    assert by_name.kind == "dead" and "target host intranet.test resolves to" in by_name.error
    assert why in by_name.error and net.connects == []


@pytest.mark.parametrize("address,cidr", [("10.0.0.1", "10.0.0.0/8"),
                                          ("192.168.1.20", "192.168.0.0/16"),
                                          ("::ffff:10.9.8.7", "10.0.0.0/8")])
def test_the_cidr_allow_list_opens_a_private_range(target, address, cidr):
    net = RecordingNetwork(route={address: "127.0.0.1"})  # that range "is" the local target
    host = f"[{address}]" if ":" in address else address
    policy = QueuePolicy("hooks", target_url=f"http://{host}:{target.port}/task")
    [done] = dispatch(make_config(allow_cidrs=(parse_cidr(cidr),)), [make_task()], policy,
                      network=net)
    assert done.kind == "succeeded" and net.connects == [address]
    assert target.requests[0].headers["host"] == f"{host}:{target.port}"


def test_one_resolution_per_connection_and_it_connects_to_the_address_vetted(target):
    """DNS rebinding: the zone answers a public address, then loopback. The guard resolves
    once, vets that answer and connects to that very address (a literal: nothing below it
    resolves again), so the second answer never reaches a socket."""
    resolver = ScriptedResolver({"rebind.test": [["93.184.216.34"], ["127.0.0.1"]]})
    net = RecordingNetwork(route={"93.184.216.34": "127.0.0.1"})
    config = make_config(allow=(parse_prefix(f"http://rebind.test:{target.port}/"),),
                         allow_cidrs=())  # loopback stays closed
    task = make_task(target_url=f"http://rebind.test:{target.port}/task")
    [done] = dispatch(config, [task], QueuePolicy("hooks"), resolver=resolver, network=net)
    assert done.kind == "succeeded"
    assert resolver.lookups == ["rebind.test"] and net.connects == ["93.184.216.34"]
    assert target.requests[0].headers["host"] == f"rebind.test:{target.port}"  # name kept
    # A new connection resolves anew, and the rebound answer is refused before connecting.
    [again] = dispatch(config, [task], QueuePolicy("hooks"), resolver=resolver, network=net)
    assert again.kind == "dead" and "rebind.test resolves to 127.0.0.1, loopback" in again.error
    assert resolver.lookups == ["rebind.test"] * 2 and net.connects == ["93.184.216.34"]
    assert len(target.requests) == 1


def test_every_resolved_address_must_pass(target):
    """A name with one public and one private address is refused, not half-trusted."""
    resolver = ScriptedResolver({"mixed.test": [["93.184.216.34", "10.0.0.1"]]})
    net = RecordingNetwork(route={"93.184.216.34": "127.0.0.1"})
    policy = QueuePolicy("hooks", target_url=f"http://mixed.test:{target.port}/task")
    [done] = dispatch(make_config(allow_cidrs=()), [make_task()], policy, resolver=resolver,
                      network=net)
    assert done.kind == "dead" and "resolves to 10.0.0.1, private" in done.error
    assert net.connects == [] and target.requests == []


@pytest.fixture
def tls_target(tmp_path, monkeypatch):
    """An HTTPS target on 127.0.0.1 whose certificate names tls.test only, trusted as a CA."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=tls.test",
                    "-addext", "subjectAltName=DNS:tls.test", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True, timeout=30)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # httpx's default context reads it
    server = TargetServer(ssl_certfile=str(cert), ssl_keyfile=str(key)).start()
    yield server
    server.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_is_verified_against_the_name_while_connecting_to_the_vetted_address(tls_target):
    resolver = ScriptedResolver({"tls.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    net = RecordingNetwork()
    port = tls_target.port
    results = {host: dispatch(make_config(), [make_task()],
                              QueuePolicy("hooks", target_url=f"https://{host}:{port}/task"),
                              resolver=resolver, network=net)[0]
               for host in ("tls.test", "other.test", "127.0.0.1")}
    assert results["tls.test"].kind == "succeeded"  # SNI and the certificate check: the name
    assert results["other.test"].attempt.reason == "tls error"  # same address, wrong name
    assert results["127.0.0.1"].attempt.reason == "tls error"
    assert net.connects == ["127.0.0.1"] * 3 and len(tls_target.requests) == 1
    assert tls_target.requests[0].headers["host"] == f"tls.test:{port}"


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.1"])
def test_odd_spellings_of_loopback_are_vetted_as_what_they_resolve_to(target, host):
    """Not IP literals to Python, but the OS resolver reads them as 127.0.0.1."""
    net = RecordingNetwork()
    policy = QueuePolicy("hooks", target_url=f"http://{host}:{target.port}/task")
    [done] = dispatch(make_config(allow_cidrs=()), [make_task()], policy, network=net)
    assert done.kind == "dead" and "loopback; refused" in done.error
    assert net.connects == [] and target.requests == []
